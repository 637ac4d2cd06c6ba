from tortoise import migrations

# Reserved for the web chat's uploads and phone consent (issue 17).


class Migration(migrations.Migration):
    dependencies = [('peygir', '0015_places')]

    initial = False

    operations = []
