"""What the writer needs to make the log tamper-evident: the hash chain's link, RFC 9162
Merkle hashing, signing keys and checkpoints. Below the store; `audit/` reads with it."""
