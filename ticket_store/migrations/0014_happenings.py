from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from peygir.ticket_store.models import HappeningKind

# What is not a ticket (issue 18): referrals, FAQ answers and unplaced messages counted by
# local day, kind and code; and the unplaced messages' words, for what the pack should learn.


class Migration(migrations.Migration):
    dependencies = [('peygir', '0013_canned_replies')]

    initial = False

    operations = [
        ops.CreateModel(
            name='HappeningCount',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.IntField()),
                ('kind', fields.CharEnumField(description='REFERRAL: referral\nFAQ: faq\nUNPLACED: unplaced', enum_type=HappeningKind, max_length=16)),
                ('code', fields.CharField(default='', max_length=64)),
                ('count', fields.IntField(default=0)),
            ],
            options={'table': 'happening_count', 'app': 'peygir', 'unique_together': (('day', 'kind', 'code'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UnplacedMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('code', fields.CharField(max_length=64)),
                ('text', fields.TextField(unique=False)),
                ('channel', fields.CharField(max_length=32)),
                ('chat_id', fields.CharField(max_length=128)),
            ],
            options={'table': 'unplaced_message', 'app': 'peygir', 'indexes': [Index(fields=['channel', 'chat_id']), Index(fields=['at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
