import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

# The conversation's transcript (issue 18): each message of a chat, either way.


class Migration(migrations.Migration):
    dependencies = [('peygir', '0011_search')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ChatLine',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=32)),
                ('chat_id', fields.CharField(max_length=128)),
                ('citizen', fields.ForeignKeyField('peygir.Citizen', source_field='citizen_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('ticket', fields.ForeignKeyField('peygir.Ticket', source_field='ticket_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('direction', fields.CharField(max_length=3)),
                ('who', fields.CharField(max_length=80)),
                ('kind', fields.CharField(max_length=16)),
                ('text', fields.TextField(default='', unique=False)),
                ('attachment', fields.ForeignKeyField('peygir.Attachment', source_field='attachment_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('buttons', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('photos', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'chat_line', 'app': 'peygir', 'indexes': [Index(fields=['channel', 'chat_id', 'at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
