"""Who may see and change what, and proof of what happened: accounts and login (auth), roles and
scopes (access), the audit trail and access log with their HMAC chain and witness (audit, chain,
anchor, audit_verify, access_log, key_rotation), least-privilege database roles (provision), and
what may leave the registry (disclosure, k_anonymity, export_policy)."""
