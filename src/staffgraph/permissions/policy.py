"""The rules of API.md §4, named once and used by the schema and the resolvers."""

from __future__ import annotations

from staffgraph.models import Role
from staffgraph.permissions.rules import (
    AUTHENTICATED,
    HasRole,
    InManagementChain,
    IsOwner,
    IsReviewer,
    IsSelf,
    ViaParent,
)

SELF = IsSelf()
CHAIN = InManagementChain()
EMPLOYEE = HasRole(Role.EMPLOYEE)
MANAGER = HasRole(Role.MANAGER)
HR = HasRole(Role.HR)
ADMIN = HasRole(Role.ADMIN)
VIA_PARENT = ViaParent()

# Cheap checks first: combinators short-circuit, and only CHAIN may cost a query.
COLLEAGUE = AUTHENTICATED
READ_ROLES = SELF | HR | ADMIN
READ_IS_ACTIVE = HR | ADMIN
READ_PHONE = SELF | HR | CHAIN
READ_HOME_ADDRESS = SELF | HR
READ_DATE_OF_BIRTH = SELF | HR
# ADMIN alone may not: administering accounts is not a reason to see pay
READ_SALARY = SELF | HR | (MANAGER & CHAIN)
READ_LAST_LOGIN = SELF | ADMIN
READ_REVIEWS = SELF | HR | CHAIN
READ_SESSIONS = SELF | ADMIN
READ_AUDIT = ADMIN

UPDATE_MY_PROFILE = AUTHENTICATED
MANAGE_USERS = HR | ADMIN
#: HR may create EMPLOYEE and MANAGER accounts; granting HR or ADMIN takes an ADMIN
GRANT_PRIVILEGED_ROLES = ADMIN
PRIVILEGED_ROLES = frozenset({Role.HR, Role.ADMIN})
UPDATE_USER = HR
# Separation of duties: nobody sets their own pay or deactivates themselves.
SET_SALARY = HR & ~SELF
DEACTIVATE_USER = MANAGE_USERS & ~SELF
SET_ROLES = ADMIN
CREATE_DEPARTMENT = MANAGE_USERS
REVOKE_SESSION = IsOwner() | ADMIN
WRITE_REVIEW = MANAGER & CHAIN
SHARE_REVIEW = IsReviewer()
