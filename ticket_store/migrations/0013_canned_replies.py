from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# Canned replies an administrator edits (issue 18): the pack's replies.yaml stays as the city
# wrote it; each rewrite of a reply's title and text is kept here by the reply's id.


class Migration(migrations.Migration):
    dependencies = [('peygir', '0012_chat_log')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CannedReplyOverride',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reply_id', fields.CharField(unique=True, max_length=64)),
                ('title', fields.CharField(max_length=120)),
                ('text', fields.TextField(unique=False)),
                ('updated_by', fields.CharField(max_length=64)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'canned_reply_override', 'app': 'peygir', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
