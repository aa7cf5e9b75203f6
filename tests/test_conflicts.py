"""An operator resolves a key two accounts claim (:mod:`verrou.registry.conflicts`), on both
stores: the account kept holds it alone, the others lose the claim and the contacts they
sealed to it, each release audited, and the freeze is never touched. And the store lists
ingest runs, newest first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from test_citizens import ELODIE, JEAN, NOW
from verrou.errors import InvalidApplicant, NotFound
from verrou.fingerprints import Fingerprinter
from verrou.registry import citizens, conflicts
from verrou.registry.audit import entry_from_content, verify_registry
from verrou.registry.contacts import ContactKey
from verrou.registry.policy import Applicant
from verrou.registry.subjects import short_fingerprint
from verrou.store.protocols import RegistryStore

IBAN = Applicant(iban="FR76 3000 6000 0112 3456 7890 189")


def _contested_iban(
    store: RegistryStore, fingerprinter: Fingerprinter
) -> tuple[str, str, conflicts.KeyConflict]:
    """A victim binds their IBAN and freezes it; a fraudster binds it too, with an email
    sealed to it: (victim, fraudster, the conflict)."""
    contact_key = ContactKey.generate()
    victim = citizens.sign_in(store, fingerprinter, JEAN, now=NOW)
    fraudster = citizens.sign_in(store, fingerprinter, ELODIE, now=NOW, contact_key=contact_key)
    code_id, code, _ = citizens.start_email_proof(
        store, fingerprinter, contact_key, fraudster.id, "fraude@example.net", now=NOW
    )
    citizens.prove_email(store, contact_key, fraudster.id, code_id, code, now=NOW)
    citizens.bind_identifiers(store, fingerprinter, victim.id, IBAN, now=NOW)
    citizens.freeze_mine(store, victim.id, now=NOW)
    later = NOW + timedelta(minutes=5)
    citizens.bind_identifiers(
        store, fingerprinter, fraudster.id, IBAN, now=later, contact_key=contact_key
    )
    (conflict,) = conflicts.key_conflicts(store, now=later)
    return victim.id, fraudster.id, conflict


def test_a_contested_key_is_shown_with_each_claim_and_its_freeze(
    store: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    victim, fraudster, conflict = _contested_iban(store, fingerprinter)
    assert conflict.kind.value == "iban" and conflict.frozen
    assert conflict.freeze_owner == victim
    assert [(c.citizen_id, c.source, c.proven) for c in conflict.claims] == [
        (victim, "bound", False),
        (fraudster, "bound", False),
    ]
    (contested,) = store.contested_keys()
    assert conflict.key == short_fingerprint(contested.fingerprint)


def test_resolving_gives_the_key_to_one_account_and_audits_each_release(
    store: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    victim, fraudster, conflict = _contested_iban(store, fingerprinter)
    (fingerprint,) = [c.fingerprint for c in store.contested_keys()]
    assert {c.owner_ref for c in store.contacts_for([fingerprint])[fingerprint]} == {fraudster}
    at = NOW + timedelta(hours=1)

    resolution = conflicts.resolve_contested_key(
        store, conflict.key, keep=victim, actor="operator:cert-ops", now=at
    )
    assert (resolution.kept, resolution.released) == (victim, (fraudster,))
    assert resolution.freeze_owner == victim
    assert store.contested_keys() == []
    assert store.key_claimants([fingerprint]) == {fingerprint: {victim}}
    assert fingerprint not in store.contacts_for([fingerprint])  # the fraudster hears nothing
    freezes, _ = store.freezes_for([fingerprint], now=at)
    assert [(f.placed_by, f.owner) for f in freezes] == [("owner", victim)]  # untouched

    entries = [
        entry_from_content(e.content, prev_hash=e.prev_hash, entry_hash=e.entry_hash)
        for e in store.audit_entries()
    ]
    (released,) = [e for e in entries if e.action == "citizen.release"]
    assert (released.actor, released.subject) == ("operator:cert-ops", fingerprint.hex())
    assert released.details == {"kind": "iban", "citizen": fraudster, "kept_by": victim}
    assert verify_registry(store.audit_entries(), store.audit_snapshot()).ok
    # Its owner may now lift it: nobody else claims it.
    lifted = citizens.lift_mine(store, victim, now=at)
    assert {o.key.attribute: o.outcome for o in lifted}["iban"] == "lifted"


def test_resolving_refuses_an_unknown_key_or_an_account_that_does_not_claim_it(
    store: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    victim, fraudster, conflict = _contested_iban(store, fingerprinter)
    with pytest.raises(NotFound):
        conflicts.resolve_contested_key(store, "0" * 12, keep=victim, actor="operator:x", now=NOW)
    with pytest.raises(InvalidApplicant) as refused:
        conflicts.resolve_contested_key(
            store, conflict.key, keep="ct-" + "0" * 24, actor="operator:x", now=NOW
        )
    assert refused.value.fields == {"keep": "does not claim this key"}
    assert len(store.contested_keys()) == 1  # nothing changed
    # Nothing is released twice: once resolved, the key is no longer contested.
    conflicts.resolve_contested_key(
        store, conflict.key, keep=fraudster, actor="operator:x", now=NOW
    )
    with pytest.raises(NotFound):
        conflicts.resolve_contested_key(
            store, conflict.key, keep=fraudster, actor="operator:x", now=NOW
        )


def test_the_store_lists_ingest_runs_newest_first(leaked_store: RegistryStore) -> None:
    (run,) = leaked_store.list_runs()
    assert run == leaked_store.get_run(run.id) and run.status == "complete"
    assert run.counts["rows_read"] == 3
