"""Identity decisions: which profile an event belongs to, which ids to link, which
profiles to merge, and which merges to refuse. Pure: the lookups come in as arguments.

Ids are namespaced strings: ``anon:<anonymousId>``, ``user:<userId>``, ``email:<email>``.
A profile is *identified* once a known id (user or email) is linked to it.

Rules (PostHog's and Unomi's, see docs):
- no profile has any of the event's ids: a new profile holds them all;
- one profile has them: the missing ids join it;
- several profiles have them: the others merge into the one holding the event's known id
  (its traits win conflicts; the event's own traits apply after), unless two of them are
  identified with *different* known ids of the same kind: then nothing merges, the
  conflict is recorded, and the event goes to the known id's profile;
- a known id is never linked to a profile identified with a different known id of the same
  kind (a shared computer): the event goes to the known id's own profile instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cdp_common.identity import ANON, USER, anon_id, clean_id, email_id, graph_id, namespace_of, user_id

kind = namespace_of


def _form_email(event: Mapping[str, Any]) -> Any:
    """A form a person filled in with their email identifies them like identify does."""
    if event.get("type") != "track" or event.get("event") != "Form Submitted":
        return None
    props = event.get("properties")
    if not isinstance(props, dict):
        return None
    values = props.get("values")
    return values.get("email") if isinstance(values, dict) else props.get("email")


def event_ids(event: Mapping[str, Any]) -> list[str]:
    """The event's usable ids, known ones first (user, email), then anonymous ones."""
    ids: list[str] = []
    uid = user_id(event.get("userId"))
    if uid:
        ids.append(uid)
    traits: Mapping[str, Any] = event["traits"] if isinstance(event.get("traits"), dict) else {}
    ctx: Mapping[str, Any] = event["context"] if isinstance(event.get("context"), dict) else {}
    ctx_traits: Mapping[str, Any] = ctx["traits"] if isinstance(ctx.get("traits"), dict) else {}
    email = email_id(traits.get("email") or ctx_traits.get("email") or _form_email(event))
    if email:
        ids.append(email)
    aid = anon_id(event.get("anonymousId"))
    if aid:
        ids.append(aid)
    if event.get("type") == "alias":
        prev = clean_id(event.get("previousId"))
        if prev and graph_id(ANON, prev) not in ids and graph_id(USER, prev) not in ids:
            ids.append(graph_id(ANON, prev))  # the earlier id, whatever it was, is linked as anonymous
    return ids


@dataclass(frozen=True, slots=True)
class Decision:
    """``profile``: the target profile id, or None to create one (``new_profile``).
    ``link``: ids no profile holds yet, to attach to the target (a merged profile's ids
    move with it). ``merge``: profile ids to fold into the target.
    ``conflicts``: (profile a, profile b, reason) merges refused."""

    profile: str | None
    link: tuple[str, ...]
    merge: tuple[str, ...] = ()
    conflicts: tuple[tuple[str, str, str], ...] = ()
    new_profile: bool = False


@dataclass(frozen=True, slots=True)
class Known:
    """What the store knows about a profile: its known ids by kind."""

    ids: Mapping[str, frozenset[str]] = field(default_factory=dict)  # kind -> values

    def clashes(self, other: Known) -> str | None:
        for k in ("user", "email"):
            a, b = self.ids.get(k, frozenset()), other.ids.get(k, frozenset())
            if a and b and not (a & b):
                return f"both identified with different {k} ids"
        return None


def decide(ids: list[str], owner: Mapping[str, str], known: Mapping[str, Known]) -> Decision:
    """``owner``: id -> profile id for the ids already linked; ``known``: profile id -> its
    known ids."""
    if not ids:
        return Decision(None, (), new_profile=False)
    found = [owner[i] for i in ids if i in owner]
    profiles = list(dict.fromkeys(found))  # distinct, in the order of the event's ids
    if not profiles:
        return Decision(None, tuple(ids), new_profile=True)

    # The target: the profile owning the event's first known id, else the first found.
    target = next((owner[i] for i in ids if kind(i) != "anon" and i in owner), profiles[0])
    target_known = known.get(target, Known())
    conflicts: list[tuple[str, str, str]] = []
    merges: list[str] = []
    for p in profiles:
        if p == target:
            continue
        reason = target_known.clashes(known.get(p, Known()))
        if reason:
            conflicts.append((target, p, reason))
        else:
            merges.append(p)
            # what the merged profile knows now belongs to the target
            target_known = Known(
                {
                    k: target_known.ids.get(k, frozenset()) | known.get(p, Known()).ids.get(k, frozenset())
                    for k in ("user", "email")
                }
            )

    link: list[str] = []
    for i in ids:
        if i in owner:
            continue  # the target's already, moves with a merge, or stays with a refused one
        if kind(i) != "anon":
            clash = Known({kind(i): frozenset({i.split(":", 1)[1]})}).clashes(target_known)
            if clash:
                # a different person on an identified profile: the known id gets its own profile
                return Decision(
                    None,
                    tuple(x for x in ids if kind(x) != "anon" and x not in owner),  # owned ids stay put
                    (),
                    ((target, i, clash), *conflicts),
                    new_profile=True,
                )
        link.append(i)
    return Decision(target, tuple(link), tuple(merges), tuple(conflicts))
