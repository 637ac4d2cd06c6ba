from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('peygir', '0006_panel')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PanelRollup',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.IntField()),
                ('dim', fields.CharField(max_length=2)),
                ('unit_code', fields.CharField(default='', max_length=64)),
                ('code', fields.CharField(default='', max_length=64)),
                ('opened', fields.IntField(default=0)),
                ('resolved', fields.IntField(default=0)),
                ('open_now', fields.IntField(default=0)),
                ('late_answered', fields.IntField(default=0)),
                ('rating_sum', fields.IntField(default=0)),
                ('rated', fields.IntField(default=0)),
                ('h00', fields.IntField(default=0)),
                ('h01', fields.IntField(default=0)),
                ('h02', fields.IntField(default=0)),
                ('h03', fields.IntField(default=0)),
                ('h04', fields.IntField(default=0)),
                ('h05', fields.IntField(default=0)),
                ('h06', fields.IntField(default=0)),
                ('h07', fields.IntField(default=0)),
                ('h08', fields.IntField(default=0)),
                ('h09', fields.IntField(default=0)),
                ('h10', fields.IntField(default=0)),
                ('h11', fields.IntField(default=0)),
                ('h12', fields.IntField(default=0)),
                ('h13', fields.IntField(default=0)),
                ('h14', fields.IntField(default=0)),
                ('h15', fields.IntField(default=0)),
                ('h16', fields.IntField(default=0)),
                ('h17', fields.IntField(default=0)),
                ('h18', fields.IntField(default=0)),
                ('h19', fields.IntField(default=0)),
                ('h20', fields.IntField(default=0)),
                ('h21', fields.IntField(default=0)),
                ('h22', fields.IntField(default=0)),
                ('h23', fields.IntField(default=0)),
                ('h24', fields.IntField(default=0)),
                ('h25', fields.IntField(default=0)),
                ('h26', fields.IntField(default=0)),
                ('h27', fields.IntField(default=0)),
                ('h28', fields.IntField(default=0)),
                ('h29', fields.IntField(default=0)),
                ('h30', fields.IntField(default=0)),
                ('h31', fields.IntField(default=0)),
                ('h32', fields.IntField(default=0)),
                ('h33', fields.IntField(default=0)),
                ('h34', fields.IntField(default=0)),
            ],
            options={'table': 'panel_rollup', 'app': 'peygir', 'unique_together': (('day', 'dim', 'unit_code', 'code'),), 'indexes': [Index(fields=['dim', 'unit_code', 'day'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PanelRollupChange',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.IntField(db_index=True)),
            ],
            options={'table': 'panel_rollup_change', 'app': 'peygir', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PanelRollupDay',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.IntField(unique=True)),
                ('computed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'panel_rollup_day', 'app': 'peygir', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
