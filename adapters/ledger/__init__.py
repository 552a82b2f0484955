"""What the writer needs to make the log tamper-evident: a log entry's stored form, its
chain link and Merkle leaf (`entries`), RFC 9162 proofs (`merkle`), signing keys and
checkpoints. Below the store; `audit/` reads with it."""
