from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

# Area alerts: a chat's daily digest of reports and resolutions in a district or a circle
# (issue 20).


class Migration(migrations.Migration):
    dependencies = [('peygir', '0018_webhooks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AreaAlert',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=32)),
                ('chat_id', fields.CharField(max_length=128)),
                ('area_key', fields.CharField(max_length=96)),
                ('district', fields.CharField(null=True, max_length=64)),
                ('latitude', fields.FloatField(null=True)),
                ('longitude', fields.FloatField(null=True)),
                ('radius_m', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('since', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_day', fields.IntField(null=True)),
            ],
            options={'table': 'area_alert', 'app': 'peygir', 'unique_together': (('channel', 'chat_id', 'area_key'),), 'indexes': [Index(fields=['last_day'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
