"""`guildgraph matches ...`: the duplicate review queue and people's decisions,
through the admin port (the same checks and audit log as the admin API).

matches list [--entity community|event] [--status pending] [--source ID] [--limit N]
matches resolve DECISION_ID same|different
matches merge community|event ID ID [ID ...]     (the first id survives)
matches split community|event ID SOURCE/EXTERNAL_ID [...]
matches policy [NAME=VALUE ...]                   (show or set the thresholds)
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import asdict
from typing import Any

from rich.console import Console

from schema.admin.problems import InvalidAdminInput, MatchNotFound
from schema.admin.reviews import (
    MatchDecision,
    MatchReviewFilter,
    MatchReviewView,
    MatchStatus,
    entity_global_id,
    listing_global_id,
)
from schema.errors import UserInputError
from schema.relay import from_global_id
from schema.taxonomy import EntityType
from service.admin.service import AdminService
from service.cli.operator import admin_port, print_problems
from service.matching.policy import FIELDS
from service.settings import Settings

console = Console()


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("matches", help="duplicate review queue and decisions")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="decisions waiting for a person (or by status)")
    listing.add_argument("--entity", choices=["community", "event"])
    listing.add_argument("--status", default="pending", choices=[s.value for s in MatchStatus])
    listing.add_argument("--source", help="only records of this source")
    listing.add_argument("--limit", type=int, default=20)
    resolve = actions.add_parser("resolve", help="settle a decision: same or different")
    resolve.add_argument("decision_id")
    resolve.add_argument("decision", choices=["same", "different"])
    merge = actions.add_parser("merge", help="merge entities into the first one")
    merge.add_argument("entity", choices=["community", "event"])
    merge.add_argument("ids", nargs="+")
    split = actions.add_parser("split", help="move listings of an entity to a new one")
    split.add_argument("entity", choices=["community", "event"])
    split.add_argument("entity_id")
    split.add_argument("listings", nargs="+", help="SOURCE/EXTERNAL_ID")
    policy = actions.add_parser("policy", help="show or set the match thresholds")
    policy.add_argument("values", nargs="*", help=f"NAME=NUMBER, NAME one of {sorted(FIELDS)}")


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_run(args, settings))


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    async with admin_port(settings) as admin:
        try:
            return await _act(admin, args)
        except UserInputError as error:
            console.print(str(error), style="red", markup=False, highlight=False)
            return 2


def _raw(global_id: str) -> str:
    return from_global_id(global_id)[1]


async def _act(admin: AdminService, args: argparse.Namespace) -> int:
    if args.action == "list":
        selection = MatchReviewFilter(
            status=MatchStatus(args.status),
            entity_type=EntityType(args.entity) if args.entity else None,
            source_id=args.source,
        )
        page = await admin.match_reviews(selection, args.limit, None, False)
        for review in page.docs:
            _show(review)
        return 0
    if args.action == "resolve":
        done = await admin.resolve_match(args.decision_id, MatchDecision(args.decision))
        if isinstance(done, MatchNotFound):
            return _not_found(done)
        console.print(f"{done['_id']}: {done['status']}")
        return 0
    if args.action == "merge":
        entity = EntityType(args.entity)
        merged = await admin.merge_entities([entity_global_id(entity, i) for i in args.ids])
        if isinstance(merged, MatchNotFound):
            return _not_found(merged)
        if isinstance(merged, InvalidAdminInput):
            print_problems("nothing merged", merged)
            return 2
        gone = ", ".join(_raw(i) for i in merged.merged_ids)
        console.print(f"merged into {_raw(merged.survivor_id)}: {gone}", highlight=False)
        return 0
    if args.action == "split":
        entity = EntityType(args.entity)
        listings = [listing_global_id(*_listing_key(item)) for item in args.listings]
        split = await admin.split_entity(entity_global_id(entity, args.entity_id), listings)
        if isinstance(split, MatchNotFound):
            return _not_found(split)
        if isinstance(split, InvalidAdminInput):
            print_problems("nothing split", split)
            return 2
        console.print(f"split off as {_raw(split.new_entity_id)}", highlight=False)
        return 0
    return await _policy(admin, args.values)


def _listing_key(item: str) -> tuple[str, str]:
    source_id, _, external_id = item.partition("/")
    if not source_id or not external_id:
        raise UserInputError(f"{item!r} is not SOURCE/EXTERNAL_ID", argument="listings")
    return source_id, external_id


async def _policy(admin: AdminService, values: list[str]) -> int:
    given = dict(item.split("=", 1) for item in values)
    unknown = set(given) - FIELDS
    if unknown:
        console.print(f"[red]unknown settings: {', '.join(sorted(unknown))}[/red]")
        return 2
    policy = (
        await admin.set_match_policy({k: float(v) for k, v in given.items()})
        if given
        else await admin.match_policy()
    )
    for name, value in asdict(policy).items():
        console.print(f"{name} = {value}")
    return 0


def _not_found(problem: MatchNotFound) -> int:
    console.print(f"[red]not found: {problem.missing_id}[/red]")
    return 1


def _name(doc: dict[str, Any] | None) -> str:
    if doc is None:
        return "(gone)"
    shown = doc.get("name") or doc.get("title") or {}
    return " / ".join(str(v) for v in shown.values())


def _show(review: MatchReviewView) -> None:
    console.print(
        f"[bold]{review['_id']}[/bold] {review['entity']} score={review['score']} "
        f"status={review['status']}",
        highlight=False,
    )
    console.print(f"  record    {review['entity_id']}  {_name(review['record'])}", markup=False)
    console.print(
        f"  candidate {review['candidate_id']}  {_name(review['candidate'])}", markup=False
    )
    for e in review["evidence"]:
        console.print(f"    {e['weight']:+5.1f} {e['feature']}: {e['detail']}", markup=False)
