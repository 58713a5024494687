import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkToken, mailTo, verifyEmail } from '../helpers/email.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { createOrg, signUp } from '../helpers/world.ts';

let plaza: TestPlaza;
beforeAll(async () => {
  plaza = await startPlaza();
});
afterAll(() => plaza.close());

/** Waits (bounded) for the invitation email to reach the dev mailbox and returns its token. */
const invitationToken = async (to: string) =>
  linkToken(await mailTo(plaza, to, /invited you/), '/invitations');

describe('organizations', () => {
  it('creates organizations of each kind with the creator as owner', async () => {
    const owner = await signUp(plaza);
    for (const kind of ['developer', 'agency', 'account'] as const) {
      const org = await createOrg(owner, kind, `My ${kind}`);
      expect(org).toMatchObject({ kind, name: `My ${kind}`, role: 'owner', parentId: null });
    }
    const me = await owner.agent.get('/v1/me').expect(200);
    expect(me.body.organizations.map((o: { kind: string }) => o.kind).sort()).toEqual([
      'account',
      'agency',
      'developer',
    ]);
  });

  it('refuses an unknown kind naming the field', async () => {
    const owner = await signUp(plaza);
    const res = await owner.agent
      .post('/v1/organizations')
      .set('x-csrf-token', owner.csrf)
      .send({ name: 'X', kind: 'bank' })
      .expect(400);
    expect(res.body.fields[0].field).toBe('body.kind');
  });

  it('lets an agency create sub-accounts its admins can open, but not its plain members', async () => {
    const owner = await signUp(plaza);
    const agency = await createOrg(owner, 'agency');
    const sub = await owner.agent
      .post(`/v1/organizations/${agency.id}/sub-accounts`)
      .set('x-csrf-token', owner.csrf)
      .send({ name: 'Client One' })
      .expect(201);
    expect(sub.body).toMatchObject({ kind: 'account', parentId: agency.id });
    await owner.agent.get(`/v1/organizations/${sub.body.id}`).expect(200);
    const list = await owner.agent.get(`/v1/organizations/${agency.id}/sub-accounts`).expect(200);
    expect(list.body.data.map((o: { id: string }) => o.id)).toEqual([sub.body.id]);
    const me = await owner.agent.get('/v1/me').expect(200);
    expect(me.body.organizations.map((o: { id: string }) => o.id)).toContain(sub.body.id);

    const account = await createOrg(owner, 'account');
    const res = await owner.agent
      .post(`/v1/organizations/${account.id}/sub-accounts`)
      .set('x-csrf-token', owner.csrf)
      .send({ name: 'nope' })
      .expect(403);
    expect(res.body.code).toBe('PLAZA_FORBIDDEN');
  });
});

describe('members and invitations', () => {
  it('invites by email, the invitee accepts, roles change, members leave', async () => {
    const owner = await signUp(plaza, { name: 'Olga Owner' });
    const org = await createOrg(owner, 'developer', 'Invite Co');
    const inviteeEmail = `invitee.${Date.now()}@example.test`;
    const inv = await owner.agent
      .post(`/v1/organizations/${org.id}/invitations`)
      .set('x-csrf-token', owner.csrf)
      .send({ email: inviteeEmail, role: 'admin' })
      .expect(201);
    expect(inv.body).toMatchObject({ email: inviteeEmail, role: 'admin', organizationId: org.id });

    const token = await invitationToken(inviteeEmail);
    const preview = await plaza.http.get(`/v1/invitations/${token}`).expect(200);
    expect(preview.body).toMatchObject({
      organization: { name: 'Invite Co' },
      role: 'admin',
      email: inviteeEmail,
    });

    // Someone else cannot take it.
    const stranger = await signUp(plaza);
    await stranger.agent
      .post(`/v1/invitations/${token}/accept`)
      .set('x-csrf-token', stranger.csrf)
      .expect(403);

    const invitee = await signUp(plaza, { email: inviteeEmail, name: 'Ivan Invitee' });
    await verifyEmail(plaza, invitee);
    const accepted = await invitee.agent
      .post(`/v1/invitations/${token}/accept`)
      .set('x-csrf-token', invitee.csrf)
      .expect(200);
    expect(accepted.body.organization).toMatchObject({ id: org.id, role: 'admin' });
    // Single use.
    await invitee.agent.post(`/v1/invitations/${token}/accept`).set('x-csrf-token', invitee.csrf).expect(404);

    const members = await owner.agent.get(`/v1/organizations/${org.id}/members`).expect(200);
    expect(members.body.data.map((m: { name: string; role: string }) => [m.name, m.role]).sort()).toEqual([
      ['Ivan Invitee', 'admin'],
      ['Olga Owner', 'owner'],
    ]);

    // An admin cannot make anyone owner; the owner can.
    await invitee.agent
      .patch(`/v1/organizations/${org.id}/members/${invitee.user.id}`)
      .set('x-csrf-token', invitee.csrf)
      .send({ role: 'owner' })
      .expect(403);
    const changed = await owner.agent
      .patch(`/v1/organizations/${org.id}/members/${invitee.user.id}`)
      .set('x-csrf-token', owner.csrf)
      .send({ role: 'member' })
      .expect(200);
    expect(changed.body.role).toBe('member');
    // A plain member cannot invite.
    await invitee.agent
      .post(`/v1/organizations/${org.id}/invitations`)
      .set('x-csrf-token', invitee.csrf)
      .send({ email: 'x@example.test' })
      .expect(403);

    // The last owner cannot leave; a member can.
    const last = await owner.agent
      .delete(`/v1/organizations/${org.id}/members/${owner.user.id}`)
      .set('x-csrf-token', owner.csrf)
      .expect(409);
    expect(last.body.detail).toMatch(/at least one owner/);
    await invitee.agent
      .delete(`/v1/organizations/${org.id}/members/${invitee.user.id}`)
      .set('x-csrf-token', invitee.csrf)
      .expect(204);
    await invitee.agent.get(`/v1/organizations/${org.id}`).expect(404);

    const audit = await owner.agent.get(`/v1/organizations/${org.id}/audit-log`).expect(200);
    const actions = audit.body.data.map((e: { action: string }) => e.action);
    expect(actions).toEqual([
      'member.left',
      'member.role_changed',
      'member.joined',
      'member.invited',
      'organization.created',
    ]);
    const roleChange = audit.body.data[1];
    expect(roleChange).toMatchObject({
      actorUserId: owner.user.id,
      targetId: invitee.user.id,
      data: { from: 'admin', to: 'member' },
    });
    expect(roleChange.ip).toBeTruthy();
  });

  it('refuses a second pending invitation to the same email and lets an admin revoke one', async () => {
    const owner = await signUp(plaza);
    const org = await createOrg(owner, 'account');
    const email = `twice.${Date.now()}@example.test`;
    const first = await owner.agent
      .post(`/v1/organizations/${org.id}/invitations`)
      .set('x-csrf-token', owner.csrf)
      .send({ email })
      .expect(201);
    const dup = await owner.agent
      .post(`/v1/organizations/${org.id}/invitations`)
      .set('x-csrf-token', owner.csrf)
      .send({ email })
      .expect(409);
    expect(dup.body.fields[0]).toEqual({ field: 'body.email', reason: 'already invited' });
    await owner.agent
      .delete(`/v1/organizations/${org.id}/invitations/${first.body.id}`)
      .set('x-csrf-token', owner.csrf)
      .expect(204);
    const token = await invitationToken(email);
    await plaza.http.get(`/v1/invitations/${token}`).expect(404);
    const list = await owner.agent.get(`/v1/organizations/${org.id}/invitations`).expect(200);
    expect(list.body.data).toEqual([]);
  });

  it('paginates members with a cursor', async () => {
    const owner = await signUp(plaza);
    const org = await createOrg(owner, 'developer');
    for (let i = 0; i < 4; i++) {
      const who = await signUp(plaza);
      await plaza.core.db.query(
        "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'member')",
        [org.id, who.user.id],
      );
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await owner.agent
        .get(`/v1/organizations/${org.id}/members`)
        .query({ limit: 2, ...(cursor ? { cursor } : {}) })
        .expect(200);
      seen.push(...res.body.data.map((m: { userId: string }) => m.userId));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
    const bad = await owner.agent.get(`/v1/organizations/${org.id}/members?cursor=zzz`).expect(400);
    expect(bad.body.fields[0].field).toBe('query.cursor');
  });
});

describe('API keys', () => {
  it('shows the secret once, stores it hashed, authenticates, and stops working when revoked', async () => {
    const owner = await signUp(plaza);
    const org = await createOrg(owner, 'developer');
    const created = await owner.agent
      .post(`/v1/organizations/${org.id}/api-keys`)
      .set('x-csrf-token', owner.csrf)
      .send({ name: 'CI script', role: 'admin' })
      .expect(201);
    const { secret, apiKey } = created.body;
    expect(secret).toMatch(/^plz_key_/);
    expect(apiKey.prefix).toBe(secret.slice(0, 12));
    const row = await plaza.core.db.one('SELECT * FROM api_keys WHERE id = $1', [apiKey.id]);
    expect(JSON.stringify(row)).not.toContain(secret);

    const listed = await owner.agent.get(`/v1/organizations/${org.id}/api-keys`).expect(200);
    expect(JSON.stringify(listed.body)).not.toContain(secret);

    // The key works for its organization, without CSRF, and only there.
    await plaza.http
      .get(`/v1/organizations/${org.id}/members`)
      .set('Authorization', `Bearer ${secret}`)
      .expect(200);
    await plaza.http
      .patch(`/v1/organizations/${org.id}`)
      .set('Authorization', `Bearer ${secret}`)
      .send({ name: 'Renamed by key' })
      .expect(200);
    const other = await createOrg(owner, 'developer');
    await plaza.http
      .get(`/v1/organizations/${other.id}`)
      .set('Authorization', `Bearer ${secret}`)
      .expect(404);
    // A key cannot mint keys.
    await plaza.http
      .post(`/v1/organizations/${org.id}/api-keys`)
      .set('Authorization', `Bearer ${secret}`)
      .send({ name: 'x' })
      .expect(403);

    await owner.agent
      .delete(`/v1/organizations/${org.id}/api-keys/${apiKey.id}`)
      .set('x-csrf-token', owner.csrf)
      .expect(204);
    const refused = await plaza.http
      .get(`/v1/organizations/${org.id}/members`)
      .set('Authorization', `Bearer ${secret}`)
      .expect(401);
    expect(refused.body.code).toBe('PLAZA_UNAUTHENTICATED');

    const audit = await owner.agent.get(`/v1/organizations/${org.id}/audit-log`).expect(200);
    const actions = audit.body.data.map((e: { action: string }) => e.action);
    expect(actions).toContain('api_key.created');
    expect(actions).toContain('api_key.revoked');
  });

  it('refuses a key with a higher role than its creator and revokes keys of a removed member', async () => {
    const owner = await signUp(plaza);
    const org = await createOrg(owner, 'developer');
    const member = await signUp(plaza);
    await plaza.core.db.query(
      "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'member')",
      [org.id, member.user.id],
    );
    const res = await member.agent
      .post(`/v1/organizations/${org.id}/api-keys`)
      .set('x-csrf-token', member.csrf)
      .send({ name: 'too strong', role: 'admin' })
      .expect(403);
    expect(res.body.fields[0].field).toBe('body.role');
    const ok = await member.agent
      .post(`/v1/organizations/${org.id}/api-keys`)
      .set('x-csrf-token', member.csrf)
      .send({ name: 'mine' })
      .expect(201);
    await plaza.http
      .get(`/v1/organizations/${org.id}`)
      .set('Authorization', `Bearer ${ok.body.secret}`)
      .expect(200);
    await owner.agent
      .delete(`/v1/organizations/${org.id}/members/${member.user.id}`)
      .set('x-csrf-token', owner.csrf)
      .expect(204);
    await plaza.http
      .get(`/v1/organizations/${org.id}`)
      .set('Authorization', `Bearer ${ok.body.secret}`)
      .expect(401);
  });
});
