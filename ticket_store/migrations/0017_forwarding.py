from tortoise import migrations

# Reserved for forwarding reports to a city's Open311 back office (issue 19).


class Migration(migrations.Migration):
    dependencies = [('peygir', '0016_web_chat')]

    initial = False

    operations = []
