from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('peygir', '0004_workflow')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Open311Request',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('peygir.Ticket', source_field='ticket_id', db_index=True, db_constraint=True, to_field='id', related_name='open311', on_delete=OnDelete.CASCADE)),
                ('token', fields.CharField(unique=True, max_length=32)),
                ('media_url', fields.CharField(null=True, max_length=2048)),
                ('client', fields.CharField(max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'open311_request', 'app': 'peygir', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['created_at']),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['status', 'created_at']),
        ),
        ops.AddIndex(
            model_name='TicketEvent',
            index=Index(fields=['ticket_id', 'at']),
        ),
    ]
