from tortoise import migrations
from tortoise.migrations import operations as ops
from staffgraph.models.audit import AuditAction
from staffgraph.models.user import Role
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Department',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'departments', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A department: members point at it, and its head is one user.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('email', fields.CharField(unique=True, max_length=254)),
                ('display_name', fields.CharField(max_length=200)),
                ('password_hash', fields.CharField(null=True, max_length=128)),
                ('job_title', fields.CharField(null=True, max_length=200)),
                ('department', fields.ForeignKeyField('models.Department', source_field='department_id', null=True, db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.RESTRICT)),
                ('manager', fields.ForeignKeyField('models.User', source_field='manager_id', null=True, db_constraint=True, to_field='id', related_name='reports', on_delete=OnDelete.RESTRICT)),
                ('phone', fields.CharField(null=True, max_length=50)),
                ('home_address', fields.CharField(null=True, max_length=500)),
                ('date_of_birth', fields.DateField(null=True)),
                ('salary', fields.IntField(null=True)),
                ('is_active', fields.BooleanField(default=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('last_login_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'users', 'app': 'models', 'indexes': [Index(fields=['manager_id']), Index(fields=['department_id'])], 'pk_attr': 'id', 'table_description': 'A member of staff. Email is stored lowercased, so uniqueness is case-insensitive.'},
            bases=['Model'],
        ),
        # departments.head must follow users: Tortoise drops an FK column whose target
        # table is created later in the same migration
        ops.AddField(model_name='Department', name='head', field=fields.ForeignKeyField('models.User', source_field='head_id', null=True, db_constraint=True, to_field='id', related_name='headed_departments', on_delete=OnDelete.RESTRICT)),
        ops.AddIndex(model_name='Department', index=Index(fields=['head_id'])),
        ops.CreateModel(
            name='UserRole',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='roles', on_delete=OnDelete.CASCADE)),
                ('role', fields.CharEnumField(db_index=True, description='EMPLOYEE: EMPLOYEE\nMANAGER: MANAGER\nHR: HR\nADMIN: ADMIN', enum_type=Role, max_length=16)),
            ],
            options={'table': 'user_roles', 'app': 'models', 'unique_together': (('user', 'role'),), 'pk_attr': 'id', 'table_description': 'One role held by one user.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Session',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('revoke_reason', fields.CharField(null=True, max_length=32)),
                ('user_agent', fields.CharField(null=True, max_length=500)),
                ('ip_address', fields.CharField(null=True, max_length=45)),
            ],
            options={'table': 'sessions', 'app': 'models', 'indexes': [Index(fields=['user_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One signed-in device: the ``sid`` of its access tokens, with an absolute expiry.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RefreshToken',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('models.Session', source_field='session_id', db_constraint=True, to_field='id', related_name='refresh_tokens', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'refresh_tokens', 'app': 'models', 'indexes': [Index(fields=['session_id'])], 'pk_attr': 'id', 'table_description': 'A refresh token, stored only as its SHA-256, single use, rotated on every refresh.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Review',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('subject', fields.ForeignKeyField('models.User', source_field='subject_id', db_constraint=True, to_field='id', related_name='reviews', on_delete=OnDelete.RESTRICT)),
                ('reviewer', fields.ForeignKeyField('models.User', source_field='reviewer_id', db_constraint=True, to_field='id', related_name='written_reviews', on_delete=OnDelete.RESTRICT)),
                ('period', fields.CharField(max_length=32)),
                ('rating', fields.SmallIntField()),
                ('summary', fields.TextField(unique=False)),
                ('shared', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'reviews', 'app': 'models', 'unique_together': (('subject', 'reviewer', 'period'),), 'indexes': [Index(fields=['reviewer_id'])], 'pk_attr': 'id', 'table_description': 'A review of ``subject`` written by ``reviewer``: the subject sees it once it is shared.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('action', fields.CharEnumField(db_index=True, description='LOGIN_SUCCEEDED: LOGIN_SUCCEEDED\nLOGIN_FAILED: LOGIN_FAILED\nTOKEN_REFRESHED: TOKEN_REFRESHED\nREFRESH_TOKEN_REUSED: REFRESH_TOKEN_REUSED\nLOGOUT: LOGOUT\nPASSWORD_CHANGED: PASSWORD_CHANGED\nROLES_CHANGED: ROLES_CHANGED\nUSER_CREATED: USER_CREATED\nUSER_UPDATED: USER_UPDATED\nUSER_DEACTIVATED: USER_DEACTIVATED\nSALARY_CHANGED: SALARY_CHANGED\nACCESS_DENIED: ACCESS_DENIED\nOAUTH_LINKED: OAUTH_LINKED', enum_type=AuditAction, max_length=32)),
                ('actor', fields.ForeignKeyField('models.User', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='audit_events', on_delete=OnDelete.RESTRICT)),
                ('target_id', fields.UUIDField(null=True, db_index=True)),
                ('ip_address', fields.CharField(null=True, max_length=45)),
                ('user_agent', fields.CharField(null=True, max_length=500)),
                ('detail', fields.CharField(null=True, max_length=1000)),
            ],
            options={'table': 'audit_events', 'app': 'models', 'indexes': [Index(fields=['actor_id'])], 'pk_attr': 'id', 'table_description': 'One audited action. Users are deactivated, never deleted, so the actor stays.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OAuthAccount',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='oauth_accounts', on_delete=OnDelete.CASCADE)),
                ('provider', fields.CharField(max_length=64)),
                ('subject', fields.CharField(max_length=255)),
                ('email', fields.CharField(null=True, max_length=254)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'oauth_accounts', 'app': 'models', 'unique_together': (('provider', 'subject'),), 'indexes': [Index(fields=['user_id'])], 'pk_attr': 'id', 'table_description': 'An identity at a provider, keyed by (provider, subject), never by email alone.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OAuthLoginCode',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('code_hash', fields.CharField(unique=True, max_length=64)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='oauth_login_codes', on_delete=OnDelete.CASCADE)),
                ('provider', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'oauth_login_codes', 'app': 'models', 'indexes': [Index(fields=['user_id'])], 'pk_attr': 'id', 'table_description': 'The one-time code an OAuth callback hands the frontend, stored only as its SHA-256.'},
            bases=['Model'],
        ),
    ]
