from tortoise import migrations

# Reserved for what is not a ticket: referrals, FAQ answers, unplaced messages (issue 18).


class Migration(migrations.Migration):
    dependencies = [('peygir', '0013_canned_replies')]

    initial = False

    operations = []
