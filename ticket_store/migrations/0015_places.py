from tortoise import migrations

# Reserved for map and geocoding (issue 17).


class Migration(migrations.Migration):
    dependencies = [('peygir', '0014_happenings')]

    initial = False

    operations = []
