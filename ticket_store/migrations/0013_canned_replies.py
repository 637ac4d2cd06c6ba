from tortoise import migrations

# Reserved for canned replies an administrator edits (issue 18).


class Migration(migrations.Migration):
    dependencies = [('peygir', '0012_chat_log')]

    initial = False

    operations = []
