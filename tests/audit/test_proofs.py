"""`tidings prove`, checked by the README's standalone verifier exactly as printed there."""

import json
import re
from pathlib import Path

import msgspec
import pytest
from cryptography.exceptions import InvalidSignature
from tidings.adapters.audit.proofs import ConsistencyProof, EntryProof, InclusionProof
from tidings.adapters.audit.trail import TrailEntry
from tidings.adapters.ledger.checkpoint import Cadence
from tidings.adapters.ledger.entries import decode_event, encode_event
from tidings.adapters.library import Tidings
from tidings.cli.app import app
from typer.testing import CliRunner

from ..store.tamper import tamper

runner = CliRunner()
README = Path(__file__).resolve().parents[2] / "README.md"


def _verifier() -> str:
    """The README's standalone verifier: the python block that defines `check`."""
    [block] = [
        b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if "def check(" in b
    ]
    assert "tidings" not in block  # no tidings code
    return block


def _run_verifier(directory: Path, public: str, proof: str) -> None:
    (directory / "log.vkey").write_text(public + "\n")
    (directory / "proof.json").write_text(proof)
    exec(compile(_verifier(), "README.md", "exec"), {})


@pytest.fixture
def signed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str]:
    """A signed log in tmp_path (also the working directory): db, public key, an svTRID."""
    monkeypatch.chdir(tmp_path)
    made = runner.invoke(app, ["key", "new", "signing.key", "--origin", "example.com/tidings"])
    assert made.exit_code == 0, made.output
    db = str(tmp_path / "tidings.db")
    with Tidings(db, signing_key="signing.key", cadence=Cadence(1000, 3600)) as t:
        t.open_account("tester", "pw")
        svtrids = [t.accept("tester", f"c{i}", "op").svtrid for i in range(3)]
        for svtrid in svtrids:
            t.end(svtrid, 1000, "OK")
    monkeypatch.setenv("TIDINGS_SIGNING_KEY", "signing.key")
    return db, made.stdout.strip(), svtrids[1]


def test_an_operations_entries_are_proved_to_a_standalone_verifier(
    signed: tuple[str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, public, svtrid = signed
    proved = runner.invoke(app, ["prove", svtrid, "--db", db])
    assert proved.exit_code == 0, proved.output
    proof = json.loads(proved.stdout)
    assert [e["topic"] for e in proof["entries"]] == [
        "OperationAccepted", "OperationEnded", "NotificationQueued"
    ]  # fmt: skip
    _run_verifier(tmp_path, public, proved.stdout)
    printed = capsys.readouterr().out
    assert printed.count("recorded and unaltered") == 3


def test_a_notification_is_proved_by_login_and_id(
    signed: tuple[str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, public, _ = signed
    proved = runner.invoke(app, ["prove", "tester:2", "--db", db])
    assert proved.exit_code == 0, proved.output
    assert [e["topic"] for e in json.loads(proved.stdout)["entries"]] == ["NotificationQueued"]
    _run_verifier(tmp_path, public, proved.stdout)
    assert "NotificationQueued recorded and unaltered" in capsys.readouterr().out


def test_an_entry_altered_after_the_checkpoint_is_refused(
    signed: tuple[str, str, str], tmp_path: Path
) -> None:
    db, public, svtrid = signed
    with tamper(db) as forge:
        [(position, state)] = forge.run(
            "SELECT {position}, state FROM {events} WHERE topic = 'OperationEnded' "
            "ORDER BY {position} LIMIT 1 OFFSET 1"
        )
        ended = decode_event("OperationEnded", bytes(state))
        forged = encode_event(msgspec.structs.replace(ended, result="KO"))
        forge.run("UPDATE {events} SET state = {mark} WHERE {position} = {mark}", forged, position)
    proved = runner.invoke(app, ["prove", svtrid, "--db", db])
    assert proved.exit_code == 0, proved.output
    with pytest.raises(ValueError, match=f"position {position} is not what checkpoint signed"):
        _run_verifier(tmp_path, public, proved.stdout)


def test_a_proof_edited_on_its_way_is_refused(signed: tuple[str, str, str], tmp_path: Path) -> None:
    db, public, svtrid = signed
    proof = json.loads(runner.invoke(app, ["prove", svtrid, "--db", db]).stdout)
    proof["entries"][0]["version"] += 1
    with pytest.raises(ValueError, match="is not what checkpoint signed"):
        _run_verifier(tmp_path, public, json.dumps(proof))
    proof = json.loads(runner.invoke(app, ["prove", svtrid, "--db", db]).stdout)
    origin, size, rest = proof["checkpoint"].split("\n", 2)
    proof["checkpoint"] = f"{origin}\n{int(size) + 1}\n{rest}"
    with pytest.raises(InvalidSignature):
        _run_verifier(tmp_path, public, json.dumps(proof))


def test_prove_answers_unknown_targets_and_unsigned_logs_in_one_line(
    signed: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db, _, _ = signed
    unknown = runner.invoke(app, ["prove", "no-such-svtrid", "--db", db])
    assert unknown.exit_code == 1
    assert "no log entry concerns no-such-svtrid" in unknown.output
    monkeypatch.delenv("TIDINGS_SIGNING_KEY")
    unsigned = str(tmp_path / "unsigned.db")
    with Tidings(unsigned) as t:
        t.open_account("tester", "pw")
        svtrid = t.accept("tester", "c", "op").svtrid
    refused = runner.invoke(app, ["prove", svtrid, "--db", unsigned])
    assert refused.exit_code == 1
    assert "no signed checkpoint" in refused.output and "Traceback" not in refused.output


@pytest.mark.parametrize("struct", [EntryProof, InclusionProof, ConsistencyProof, TrailEntry])
def test_proofs_and_trail_entries_are_built_by_field_name(struct: type[msgspec.Struct]) -> None:
    # Many of their fields share a type: built by position, a swap would type-check.
    with pytest.raises(TypeError, match="positional"):
        struct(*range(len(struct.__struct_fields__)))
