from tortoise import migrations

# Reserved for the conversation's transcript (issue 18).


class Migration(migrations.Migration):
    dependencies = [('peygir', '0011_search')]

    initial = False

    operations = []
