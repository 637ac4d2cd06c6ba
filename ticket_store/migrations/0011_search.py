from tortoise import migrations

# Reserved for the search index over tickets (issue 18).


class Migration(migrations.Migration):
    dependencies = [('peygir', '0010_example_sources')]

    initial = False

    operations = []
