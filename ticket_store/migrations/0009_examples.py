from tortoise import migrations
from tortoise.migrations import operations as ops
from peygir.ticket_store.models import ExampleKind, ExampleSource
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('peygir', '0008_privacy')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LabelledExample',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('text', fields.TextField(unique=False)),
                ('kind', fields.CharEnumField(description='SERVICE: service\nFAQ: faq', enum_type=ExampleKind, max_length=16)),
                ('key', fields.CharField(max_length=64)),
                ('source', fields.CharEnumField(description='IMPORT: import\nOPERATOR: operator\nCITIZEN: citizen', enum_type=ExampleSource, max_length=16)),
                ('weight', fields.FloatField()),
                ('digest', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'labelled_example', 'app': 'peygir', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
