"""boto3 against ward-ca's AWS IAM/STS Query API (run by ca/tests/query_api.rs).

Every check is an assert; the script prints one JSON object of facts the
Rust test compares with the JSON API's view, and exits non-zero on the first
failed check. Environment: WARD_ENDPOINT, WARD_CA_BUNDLE, ROOT_KEY,
ROOT_SECRET, WARD_ACCOUNT, WARD_REGION, SSH_PUBLIC_KEY.
"""
import base64
import hashlib
import hmac
import json
import os
import struct
import sys
import time

import boto3
from botocore.config import Config

EP = os.environ["WARD_ENDPOINT"]
CA = os.environ["WARD_CA_BUNDLE"]
ACCT = os.environ["WARD_ACCOUNT"]
REGION = os.environ["WARD_REGION"]
CFG = Config(retries={"max_attempts": 1, "mode": "standard"})


def client(service, key, secret, token=None, region=None):
    return boto3.client(
        service,
        endpoint_url=EP,
        verify=CA,
        region_name=region or ("us-east-1" if service == "iam" else REGION),
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=CFG,
    )


iam = client("iam", os.environ["ROOT_KEY"], os.environ["ROOT_SECRET"])
sts = client("sts", os.environ["ROOT_KEY"], os.environ["ROOT_SECRET"])
facts = {}


def raises(exc, fn, **kw):
    try:
        fn(**kw)
    except exc as e:
        return e.response
    raise AssertionError(f"{fn.__name__}({kw}) did not raise {exc.__name__}")


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*"):
    return {"Effect": "Allow", "Action": action, "Resource": resource}


# ---- users ------------------------------------------------------------
u = iam.create_user(UserName="alice", Path="/eng/",
                    Tags=[{"Key": "team", "Value": "core"}])["User"]
assert u["UserName"] == "alice" and u["Path"] == "/eng/", u
assert u["Arn"] == f"arn:ward:iam::{ACCT}:user/eng/alice", u
assert u["CreateDate"].year >= 2024, u
assert u["Tags"] == [{"Key": "team", "Value": "core"}], u
r = raises(iam.exceptions.EntityAlreadyExistsException, iam.create_user, UserName="alice")
assert r["ResponseMetadata"]["HTTPStatusCode"] == 409, r
r = raises(iam.exceptions.NoSuchEntityException, iam.get_user, UserName="nobody")
assert r["ResponseMetadata"]["HTTPStatusCode"] == 404, r
assert iam.get_user(UserName="alice")["User"]["UserId"] == u["UserId"]
facts["alice"] = {k: str(v) for k, v in u.items() if k != "Tags"}

for i in range(7):
    iam.create_user(UserName=f"page{i}")
pages = list(iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 2}))
names = [x["UserName"] for p in pages for x in p["Users"]]
assert len(pages) >= 4, len(pages)
assert sorted(names) == sorted(["alice"] + [f"page{i}" for i in range(7)]), names
assert len(names) == len(set(names)), names
facts["list_users_pages"] = len(pages)

iam.create_user(UserName="waited")
iam.get_waiter("user_exists").wait(UserName="waited", WaiterConfig={"Delay": 1, "MaxAttempts": 3})

iam.tag_user(UserName="alice", Tags=[{"Key": "env", "Value": "prod"}])
tags = iam.list_user_tags(UserName="alice")["Tags"]
assert {"Key": "env", "Value": "prod"} in tags, tags
iam.untag_user(UserName="alice", TagKeys=["env"])
assert {"Key": "env", "Value": "prod"} not in iam.list_user_tags(UserName="alice")["Tags"]
iam.update_user(UserName="page6", NewUserName="renamed6")
iam.get_user(UserName="renamed6")
iam.delete_user(UserName="renamed6")
raises(iam.exceptions.NoSuchEntityException, iam.get_user, UserName="renamed6")

# ---- groups -----------------------------------------------------------
g = iam.create_group(GroupName="devs")["Group"]
assert g["Arn"] == f"arn:ward:iam::{ACCT}:group/devs", g
iam.add_user_to_group(GroupName="devs", UserName="alice")
gg = iam.get_group(GroupName="devs")
assert [x["UserName"] for x in gg["Users"]] == ["alice"], gg
assert [x["GroupName"] for x in iam.list_groups_for_user(UserName="alice")["Groups"]] == ["devs"]
assert "devs" in [x["GroupName"] for x in iam.list_groups()["Groups"]]
r = raises(iam.exceptions.DeleteConflictException, iam.delete_group, GroupName="devs")
assert r["ResponseMetadata"]["HTTPStatusCode"] == 409, r
iam.remove_user_from_group(GroupName="devs", UserName="alice")
assert iam.get_group(GroupName="devs")["Users"] == []

# ---- managed policies -------------------------------------------------
whoami = doc(allow(["sts:GetCallerIdentity", "sts:GetSessionToken", "sts:AssumeRole"]),
             allow(["iam:GetUser", "iam:ListAccessKeys"]))
p = iam.create_policy(PolicyName="self", PolicyDocument=whoami, Description="d")["Policy"]
parn = p["Arn"]
assert parn == f"arn:ward:iam::{ACCT}:policy/self", p
assert p["DefaultVersionId"] == "v1", p
v1 = iam.get_policy_version(PolicyArn=parn, VersionId="v1")["PolicyVersion"]
assert v1["Document"] == json.loads(whoami), v1
r = raises(iam.exceptions.MalformedPolicyDocumentException, iam.create_policy,
           PolicyName="bad", PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Maybe"}]}')
assert r["ResponseMetadata"]["HTTPStatusCode"] == 400, r
raises(iam.exceptions.EntityAlreadyExistsException, iam.create_policy,
       PolicyName="self", PolicyDocument=whoami)
v2 = iam.create_policy_version(PolicyArn=parn, PolicyDocument=whoami, SetAsDefault=True)
assert v2["PolicyVersion"]["VersionId"] == "v2" and v2["PolicyVersion"]["IsDefaultVersion"]
for _ in range(3):
    iam.create_policy_version(PolicyArn=parn, PolicyDocument=whoami)
raises(iam.exceptions.LimitExceededException, iam.create_policy_version,
       PolicyArn=parn, PolicyDocument=whoami)
vs = iam.list_policy_versions(PolicyArn=parn)["Versions"]
assert len(vs) == 5, vs
iam.set_default_policy_version(PolicyArn=parn, VersionId="v1")
assert iam.get_policy(PolicyArn=parn)["Policy"]["DefaultVersionId"] == "v1"
iam.delete_policy_version(PolicyArn=parn, VersionId="v5")
# The arn:aws spelling of ward's own policy is accepted.
iam.attach_user_policy(UserName="alice", PolicyArn=f"arn:aws:iam::{ACCT}:policy/self")
att = iam.list_attached_user_policies(UserName="alice")["AttachedPolicies"]
assert att == [{"PolicyName": "self", "PolicyArn": parn}], att
raises(iam.exceptions.NoSuchEntityException, iam.attach_user_policy,
       UserName="alice", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
raises(iam.exceptions.DeleteConflictException, iam.delete_policy, PolicyArn=parn)
assert [x["PolicyName"] for x in iam.list_policies(Scope="Local", OnlyAttached=True)["Policies"]] == ["self"]
assert iam.list_policies(Scope="AWS")["Policies"] == []
iam.attach_group_policy(GroupName="devs", PolicyArn=parn)
assert iam.list_attached_group_policies(GroupName="devs")["AttachedPolicies"][0]["PolicyArn"] == parn
# UpdateGroup: a rename and move keeps the group's id, members and policies.
iam.add_user_to_group(GroupName="devs", UserName="page1")
iam.update_group(GroupName="devs", NewGroupName="developers", NewPath="/eng/")
raises(iam.exceptions.NoSuchEntityException, iam.get_group, GroupName="devs")
gg = iam.get_group(GroupName="developers")
assert gg["Group"]["GroupId"] == g["GroupId"] and gg["Group"]["Path"] == "/eng/", gg
assert gg["Group"]["Arn"] == f"arn:ward:iam::{ACCT}:group/eng/developers", gg
assert [x["UserName"] for x in gg["Users"]] == ["page1"], gg
assert iam.list_attached_group_policies(GroupName="developers")["AttachedPolicies"][0]["PolicyArn"] == parn
iam.create_group(GroupName="ops2")
r = raises(iam.exceptions.EntityAlreadyExistsException, iam.update_group,
           GroupName="ops2", NewGroupName="Developers")
assert r["ResponseMetadata"]["HTTPStatusCode"] == 409, r
raises(iam.exceptions.NoSuchEntityException, iam.update_group, GroupName="nosuch", NewGroupName="x")
r = raises(iam.exceptions.ClientError, iam.update_group, GroupName="ops2", NewGroupName="x" * 200)
assert r["Error"]["Code"] == "ValidationError" and "NewGroupName" in r["Error"]["Message"], r
iam.delete_group(GroupName="ops2")
# ListEntitiesForPolicy: alice (attached above) and the renamed group.
ents = iam.list_entities_for_policy(PolicyArn=parn)
assert [x["UserName"] for x in ents["PolicyUsers"]] == ["alice"], ents
assert ents["PolicyGroups"] == [{"GroupName": "developers", "GroupId": g["GroupId"]}], ents
assert ents["PolicyRoles"] == [], ents
assert iam.list_entities_for_policy(PolicyArn=parn, EntityFilter="Group")["PolicyUsers"] == []
assert iam.list_entities_for_policy(PolicyArn=parn, PathPrefix="/eng/")["PolicyGroups"][0]["GroupName"] == "developers"
ep = list(iam.get_paginator("list_entities_for_policy").paginate(
    PolicyArn=parn, PaginationConfig={"PageSize": 1}))
assert len(ep) == 2, ep
assert sum(len(p["PolicyUsers"]) + len(p["PolicyGroups"]) for p in ep) == 2, ep
raises(iam.exceptions.NoSuchEntityException, iam.list_entities_for_policy,
       PolicyArn=f"arn:ward:iam::{ACCT}:policy/nosuch")
iam.update_group(GroupName="developers", NewGroupName="devs", NewPath="/")
# Policy tags.
iam.tag_policy(PolicyArn=parn, Tags=[{"Key": "owner", "Value": "sec"}, {"Key": "tier", "Value": "1"}])
assert iam.list_policy_tags(PolicyArn=parn)["Tags"] == [{"Key": "owner", "Value": "sec"},
                                                        {"Key": "tier", "Value": "1"}]
iam.untag_policy(PolicyArn=parn, TagKeys=["tier"])
assert iam.list_policy_tags(PolicyArn=parn)["Tags"] == [{"Key": "owner", "Value": "sec"}]
raises(iam.exceptions.NoSuchEntityException, iam.list_policy_tags,
       PolicyArn=f"arn:ward:iam::{ACCT}:policy/nosuch")
raises(iam.exceptions.NoSuchEntityException, iam.tag_policy,
       PolicyArn=f"arn:ward:iam::{ACCT}:policy/nosuch", Tags=[{"Key": "a", "Value": "b"}])
r = raises(iam.exceptions.LimitExceededException, iam.tag_policy, PolicyArn=parn,
           Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
assert iam.list_policy_tags(PolicyArn=parn)["Tags"] == [{"Key": "owner", "Value": "sec"}]
iam.remove_user_from_group(GroupName="devs", UserName="page1")
iam.detach_group_policy(GroupName="devs", PolicyArn=parn)

# ---- inline policies and boundaries ------------------------------------
iam.put_user_policy(UserName="alice", PolicyName="inline", PolicyDocument=whoami)
gp = iam.get_user_policy(UserName="alice", PolicyName="inline")
assert gp["PolicyDocument"] == json.loads(whoami) and gp["UserName"] == "alice", gp
assert iam.list_user_policies(UserName="alice")["PolicyNames"] == ["inline"]
iam.delete_user_policy(UserName="alice", PolicyName="inline")
assert iam.list_user_policies(UserName="alice")["PolicyNames"] == []
iam.put_group_policy(GroupName="devs", PolicyName="gi", PolicyDocument=whoami)
assert iam.get_group_policy(GroupName="devs", PolicyName="gi")["PolicyDocument"] == json.loads(whoami)
assert iam.list_group_policies(GroupName="devs")["PolicyNames"] == ["gi"]
iam.delete_group_policy(GroupName="devs", PolicyName="gi")
iam.put_user_permissions_boundary(UserName="page5", PermissionsBoundary=parn)
b = iam.get_user(UserName="page5")["User"]["PermissionsBoundary"]
assert b == {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": parn}, b
iam.delete_user_permissions_boundary(UserName="page5")
assert "PermissionsBoundary" not in iam.get_user(UserName="page5")["User"]

# ---- access keys --------------------------------------------------------
k = iam.create_access_key(UserName="alice")["AccessKey"]
assert k["AccessKeyId"].startswith("AKIA") and len(k["SecretAccessKey"]) >= 40, k
keys = iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
assert [x["AccessKeyId"] for x in keys] == [k["AccessKeyId"]], keys
lu = iam.get_access_key_last_used(AccessKeyId=k["AccessKeyId"])
assert lu["UserName"] == "alice", lu
assert lu["AccessKeyLastUsed"]["ServiceName"] == "N/A" and lu["AccessKeyLastUsed"]["Region"] == "N/A", lu
assert "LastUsedDate" not in lu["AccessKeyLastUsed"], lu
raises(iam.exceptions.NoSuchEntityException, iam.get_access_key_last_used,
       AccessKeyId="AKIA" + "Z" * 16)
a_sts = client("sts", k["AccessKeyId"], k["SecretAccessKey"])
a_iam = client("iam", k["AccessKeyId"], k["SecretAccessKey"])
me = a_sts.get_caller_identity()
assert me["Arn"] == u["Arn"] and me["Account"] == ACCT and me["UserId"] == u["UserId"], me
lu = iam.get_access_key_last_used(AccessKeyId=k["AccessKeyId"])["AccessKeyLastUsed"]
assert lu["ServiceName"] == "sts" and lu["Region"] == REGION and lu["LastUsedDate"].year >= 2024, lu
# GetUser and ListAccessKeys without UserName: the caller's own.
assert a_iam.get_user()["User"]["UserName"] == "alice"
assert len(a_iam.list_access_keys()["AccessKeyMetadata"]) == 1
r = raises(a_iam.exceptions.ClientError, a_iam.list_users)
assert r["Error"]["Code"] == "AccessDenied" and r["ResponseMetadata"]["HTTPStatusCode"] == 403, r
st = a_sts.get_session_token(DurationSeconds=900)["Credentials"]
assert st["AccessKeyId"].startswith("ASIA"), st
me2 = client("sts", st["AccessKeyId"], st["SecretAccessKey"], st["SessionToken"]).get_caller_identity()
assert me2["Arn"] == u["Arn"], me2
k2 = iam.create_access_key(UserName="page5")["AccessKey"]
iam.update_access_key(UserName="page5", AccessKeyId=k2["AccessKeyId"], Status="Inactive")
assert iam.list_access_keys(UserName="page5")["AccessKeyMetadata"][0]["Status"] == "Inactive"
r = raises(sts.exceptions.ClientError, client("sts", k2["AccessKeyId"], k2["SecretAccessKey"]).get_caller_identity)
assert r["Error"]["Code"] == "InvalidClientTokenId", r
iam.delete_access_key(UserName="page5", AccessKeyId=k2["AccessKeyId"])
facts["alice_key"] = k["AccessKeyId"]

# ---- login profiles and SSH keys ----------------------------------------
lp = iam.create_login_profile(UserName="page4", Password="Kestrel-Orbit-77-x",
                              PasswordResetRequired=True)["LoginProfile"]
assert lp["UserName"] == "page4" and lp["PasswordResetRequired"] is True, lp
r = raises(iam.exceptions.EntityAlreadyExistsException, iam.create_login_profile,
           UserName="page4", Password="Another-Pass-55-q")
assert r["ResponseMetadata"]["HTTPStatusCode"] == 409, r
glp = iam.get_login_profile(UserName="page4")["LoginProfile"]
assert glp["UserName"] == "page4" and glp["PasswordResetRequired"] is True, glp
assert glp["CreateDate"] == lp["CreateDate"], (glp, lp)
raises(iam.exceptions.NoSuchEntityException, iam.get_login_profile, UserName="page3")
# A password login whose reset is required may only change the password:
# the aws CLI's change-password, as in AWS's first-login flow.
import ssl
import urllib.request
def login(name, password):
    req = urllib.request.Request(EP + "/v1/login", method="POST",
                                 data=json.dumps({"userName": name, "password": password}).encode(),
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=CA)) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return {"status": e.code}
iam.put_user_policy(UserName="page4", PolicyName="pw", PolicyDocument=doc(allow("iam:ChangePassword")))
sess = login("page4", "Kestrel-Orbit-77-x")
assert sess.get("passwordResetRequired") is True, sess
p_iam = client("iam", sess["accessKeyId"], sess["secretAccessKey"], sess["sessionToken"])
p_iam.change_password(OldPassword="Kestrel-Orbit-77-x", NewPassword="Kestrel-Orbit-99-z")
assert login("page4", "Kestrel-Orbit-77-x").get("status") in (400, 401, 403)
fresh = login("page4", "Kestrel-Orbit-99-z")
assert "accessKeyId" in fresh and not fresh.get("passwordResetRequired"), fresh
iam.update_login_profile(UserName="page4", Password="Kestrel-Orbit-78-y")
assert iam.get_login_profile(UserName="page4")["LoginProfile"]["PasswordResetRequired"] is False
iam.update_login_profile(UserName="page4", PasswordResetRequired=True)
assert iam.get_login_profile(UserName="page4")["LoginProfile"]["PasswordResetRequired"] is True
assert login("page4", "Kestrel-Orbit-78-y").get("passwordResetRequired") is True
iam.delete_login_profile(UserName="page4")
r = raises(iam.exceptions.NoSuchEntityException, iam.update_login_profile,
           UserName="page4", Password="Kestrel-Orbit-79-z")
assert r["ResponseMetadata"]["HTTPStatusCode"] == 404, r
raises(iam.exceptions.NoSuchEntityException, iam.delete_login_profile, UserName="page4")
raises(iam.exceptions.NoSuchEntityException, iam.get_login_profile, UserName="page4")
sk = iam.upload_ssh_public_key(UserName="alice", SSHPublicKeyBody=os.environ["SSH_PUBLIC_KEY"])["SSHPublicKey"]
assert sk["Status"] == "Active" and sk["Fingerprint"], sk
sks = iam.list_ssh_public_keys(UserName="alice")["SSHPublicKeys"]
assert [x["SSHPublicKeyId"] for x in sks] == [sk["SSHPublicKeyId"]], sks
got = iam.get_ssh_public_key(UserName="alice", SSHPublicKeyId=sk["SSHPublicKeyId"], Encoding="SSH")
assert got["SSHPublicKey"]["SSHPublicKeyBody"].split()[:2] == os.environ["SSH_PUBLIC_KEY"].split()[:2], got
iam.update_ssh_public_key(UserName="alice", SSHPublicKeyId=sk["SSHPublicKeyId"], Status="Inactive")
assert iam.list_ssh_public_keys(UserName="alice")["SSHPublicKeys"][0]["Status"] == "Inactive"
iam.delete_ssh_public_key(UserName="alice", SSHPublicKeyId=sk["SSHPublicKeyId"])
assert iam.list_ssh_public_keys(UserName="alice")["SSHPublicKeys"] == []

# ---- roles and STS -------------------------------------------------------
trust = doc({"Effect": "Allow", "Principal": {"AWS": u["Arn"]}, "Action": ["sts:AssumeRole", "sts:TagSession"]})
role = iam.create_role(RoleName="ops", AssumeRolePolicyDocument=trust, Description="ops role",
                       MaxSessionDuration=7200, Tags=[{"Key": "k", "Value": "v"}])["Role"]
rarn = role["Arn"]
assert rarn == f"arn:ward:iam::{ACCT}:role/ops", role
assert role["AssumeRolePolicyDocument"] == json.loads(trust), role
assert role["MaxSessionDuration"] == 7200, role
raises(iam.exceptions.EntityAlreadyExistsException, iam.create_role,
       RoleName="ops", AssumeRolePolicyDocument=trust)
iam.update_role(RoleName="ops", Description="changed")
assert iam.get_role(RoleName="ops")["Role"]["Description"] == "changed"
assert "ops" in [x["RoleName"] for x in iam.list_roles()["Roles"]]
iam.tag_role(RoleName="ops", Tags=[{"Key": "t2", "Value": "x"}])
assert {"Key": "t2", "Value": "x"} in iam.list_role_tags(RoleName="ops")["Tags"]
iam.untag_role(RoleName="ops", TagKeys=["t2"])
iam.put_role_policy(RoleName="ops", PolicyName="ri", PolicyDocument=doc(allow("iam:ListUsers")))
assert iam.list_role_policies(RoleName="ops")["PolicyNames"] == ["ri"]
assert iam.get_role_policy(RoleName="ops", PolicyName="ri")["RoleName"] == "ops"
iam.attach_role_policy(RoleName="ops", PolicyArn=parn)
assert iam.list_attached_role_policies(RoleName="ops")["AttachedPolicies"][0]["PolicyName"] == "self"
iam.update_assume_role_policy(RoleName="ops", PolicyDocument=trust)
ar = a_sts.assume_role(RoleArn=f"arn:aws:iam::{ACCT}:role/ops", RoleSessionName="s1",
                       DurationSeconds=900, Tags=[{"Key": "sess", "Value": "1"}])
c = ar["Credentials"]
assert c["AccessKeyId"].startswith("ASIA") and ar["AssumedRoleUser"]["Arn"].endswith(":assumed-role/ops/s1"), ar
r_iam = client("iam", c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
r_sts = client("sts", c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
assert r_sts.get_caller_identity()["Arn"] == ar["AssumedRoleUser"]["Arn"]
# The role's own policy (iam:ListUsers) works through the Query API.
assert "alice" in [x["UserName"] for x in r_iam.list_users()["Users"]]
r = raises(sts.exceptions.ClientError, client("sts", k["AccessKeyId"], k["SecretAccessKey"]).assume_role,
           RoleArn=f"arn:ward:iam::{ACCT}:role/nosuch", RoleSessionName="s2")
assert r["ResponseMetadata"]["HTTPStatusCode"] in (403, 404), r
facts["assumed_arn"] = ar["AssumedRoleUser"]["Arn"]
iam.put_role_permissions_boundary(RoleName="ops", PermissionsBoundary=parn)
assert iam.get_role(RoleName="ops")["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == parn
be = iam.list_entities_for_policy(PolicyArn=parn, PolicyUsageFilter="PermissionsBoundary")
assert [x["RoleName"] for x in be["PolicyRoles"]] == ["ops"], be
assert be["PolicyUsers"] == [] and be["PolicyGroups"] == [], be
assert iam.get_policy(PolicyArn=parn)["Policy"]["PermissionsBoundaryUsageCount"] == 1
iam.delete_role_permissions_boundary(RoleName="ops")
assert iam.get_policy(PolicyArn=parn)["Policy"]["PermissionsBoundaryUsageCount"] == 0
assert iam.list_entities_for_policy(PolicyArn=parn, PolicyUsageFilter="PermissionsBoundary")["PolicyRoles"] == []

# ---- MFA devices ---------------------------------------------------------
def totp(seed, step):
    key = base64.b32decode(seed + "=" * (-len(seed) % 8))
    h = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    o = h[-1] & 15
    return "%06d" % ((struct.unpack(">I", h[o:o + 4])[0] & 0x7FFFFFFF) % 1000000)


dev = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice-phone")["VirtualMFADevice"]
seed = dev["Base32StringSeed"].decode()
serial = dev["SerialNumber"]
assert serial == f"arn:ward:iam::{ACCT}:mfa/alice-phone", dev
vm = iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]
assert [d["SerialNumber"] for d in vm] == [serial] and "User" not in vm[0], vm
assert iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"] == []
sm = iam.get_account_summary()["SummaryMap"]
assert sm["MFADevices"] == 1 and sm["MFADevicesInUse"] == 0, sm
step = int(time.time()) // 30
iam.enable_mfa_device(UserName="alice", SerialNumber=serial,
                      AuthenticationCode1=totp(seed, step - 1), AuthenticationCode2=totp(seed, step))
ds = iam.list_mfa_devices(UserName="alice")["MFADevices"]
assert [d["SerialNumber"] for d in ds] == [serial], ds
vm = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
assert [d["SerialNumber"] for d in vm] == [serial], vm
assert vm[0]["User"]["UserName"] == "alice" and vm[0]["User"]["Arn"] == u["Arn"], vm
assert vm[0]["EnableDate"].year >= 2024, vm
assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == vm
assert iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"] == []
r = raises(iam.exceptions.ClientError, iam.list_virtual_mfa_devices, AssignmentStatus="Maybe")
assert r["Error"]["Code"] == "ValidationError" and r["ResponseMetadata"]["HTTPStatusCode"] == 400, r
sm = iam.get_account_summary()["SummaryMap"]
assert sm["MFADevices"] == 1 and sm["MFADevicesInUse"] == 1, sm
assert sm["Users"] == len(iam.list_users()["Users"]), sm
assert sm["Groups"] == len(iam.list_groups()["Groups"]), sm
assert sm["Roles"] == len(iam.list_roles()["Roles"]), sm
assert sm["Policies"] == len(iam.list_policies(Scope="Local")["Policies"]), sm
assert sm["AccessKeysPerUserQuota"] == 2 and sm["GroupsPerUserQuota"] == 10, sm
raises(iam.exceptions.DeleteConflictException, iam.delete_virtual_mfa_device, SerialNumber=serial)
iam.deactivate_mfa_device(UserName="alice", SerialNumber=serial)
assert iam.list_mfa_devices(UserName="alice")["MFADevices"] == []
iam.delete_virtual_mfa_device(SerialNumber=serial)

# ---- simulation ------------------------------------------------------------
sim = iam.simulate_principal_policy(PolicySourceArn=u["Arn"],
                                    ActionNames=["sts:GetCallerIdentity", "iam:DeleteUser"])
dec = {e["EvalActionName"]: e["EvalDecision"] for e in sim["EvaluationResults"]}
assert dec == {"sts:GetCallerIdentity": "allowed", "iam:DeleteUser": "implicitDeny"}, sim
sim = iam.simulate_custom_policy(
    PolicyInputList=[doc(allow("iam:GetUser"), {"Effect": "Deny", "Action": "iam:DeleteUser", "Resource": "*"})],
    ActionNames=["iam:GetUser", "iam:DeleteUser", "iam:ListUsers"],
    ResourceArns=[f"arn:aws:iam::{ACCT}:user/x"])
dec = {e["EvalActionName"]: e["EvalDecision"] for e in sim["EvaluationResults"]}
assert dec == {"iam:GetUser": "allowed", "iam:DeleteUser": "explicitDeny",
               "iam:ListUsers": "implicitDeny"}, sim
assert all(e["EvalResourceName"] == f"arn:ward:iam::{ACCT}:user/x" for e in sim["EvaluationResults"]), sim

# ---- GetAccountAuthorizationDetails ------------------------------------------
ad = iam.get_account_authorization_details()
assert ad["IsTruncated"] is False, ad
ud = {x["UserName"]: x for x in ad["UserDetailList"]}
assert ud["alice"]["Arn"] == u["Arn"], ud["alice"]
assert ud["alice"]["AttachedManagedPolicies"] == [{"PolicyName": "self", "PolicyArn": parn}], ud["alice"]
rd = {x["RoleName"]: x for x in ad["RoleDetailList"]}
assert [p["PolicyName"] for p in rd["ops"]["RolePolicyList"]] == ["ri"], rd["ops"]
assert rd["ops"]["RolePolicyList"][0]["PolicyDocument"] == json.loads(doc(allow("iam:ListUsers"))), rd["ops"]
assert rd["ops"]["AssumeRolePolicyDocument"] == json.loads(trust), rd["ops"]
assert rd["ops"]["AttachedManagedPolicies"] == [{"PolicyName": "self", "PolicyArn": parn}], rd["ops"]
pd = {x["PolicyName"]: x for x in ad["Policies"]}
assert [v["VersionId"] for v in pd["self"]["PolicyVersionList"]] == ["v1", "v2", "v3", "v4"], pd["self"]
assert pd["self"]["PolicyVersionList"][0]["Document"] == json.loads(whoami), pd["self"]
assert [g["GroupName"] for g in ad["GroupDetailList"]] == ["devs"], ad["GroupDetailList"]
only_roles = iam.get_account_authorization_details(Filter=["Role"])
assert only_roles["UserDetailList"] == [] and only_roles["Policies"] == [], only_roles
assert [x["RoleName"] for x in only_roles["RoleDetailList"]] == ["ops"], only_roles
total = sum(len(ad[k]) for k in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"))
pages = list(iam.get_paginator("get_account_authorization_details").paginate(
    PaginationConfig={"PageSize": 3}))
seen = sum(len(p[k]) for p in pages for k in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"))
assert len(pages) == (total + 2) // 3 and seen == total, (len(pages), seen, total)
r = raises(iam.exceptions.ClientError, iam.get_account_authorization_details, Filter=["Bucket"])
assert r["Error"]["Code"] == "ValidationError" and "Filter" in r["Error"]["Message"], r

# ---- clean-up: deletes in the order AWS wants --------------------------------
r = raises(iam.exceptions.DeleteConflictException, iam.delete_role, RoleName="ops")
iam.detach_role_policy(RoleName="ops", PolicyArn=parn)
iam.delete_role_policy(RoleName="ops", PolicyName="ri")
iam.delete_role(RoleName="ops")
raises(iam.exceptions.NoSuchEntityException, iam.get_role, RoleName="ops")
iam.detach_user_policy(UserName="alice", PolicyArn=parn)
iam.delete_policy(PolicyArn=parn)
iam.delete_group(GroupName="devs")

print(json.dumps(facts))
