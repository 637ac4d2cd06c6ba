from tortoise import migrations

# Reserved for signed webhook subscriptions and deliveries (issue 19).


class Migration(migrations.Migration):
    dependencies = [('peygir', '0017_forwarding')]

    initial = False

    operations = []
