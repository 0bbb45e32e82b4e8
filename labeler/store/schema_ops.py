"""The keypoint schema: ordered names, skeleton edges, left/right flip pairs, and edits to them."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, aliased

from labeler.errors import UserInputError
from labeler.store.core import ProjectCore, keypoint_ids, recompute_review, unknown_keypoint
from labeler.store.models import EdgeRow, FlipPairRow, KeypointRow, MetaRow, PointRow
from labeler.store.records import Schema

_FORBIDDEN_IN_NAMES = ",=:"


def check_keypoint_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise UserInputError(f"keypoint names must be non-empty text, got {name!r}")
    if name != name.strip():
        raise UserInputError(f"keypoint name {name!r} must not start or end with spaces")
    bad = sorted(set(_FORBIDDEN_IN_NAMES) & set(name))
    if bad:
        raise UserInputError(f"keypoint name {name!r} must not contain {' '.join(bad)}")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in name):
        # a terminal escape or a right-to-left override in a name would rewrite every listing
        raise UserInputError(f"keypoint name {name!r} must not contain control or formatting characters")
    return name


def check_keypoints(names: Iterable[str]) -> tuple[str, ...]:
    out = tuple(check_keypoint_name(n) for n in names)
    seen: set[str] = set()
    for n in out:
        if n in seen:
            raise UserInputError(f"keypoint {n!r} is listed twice")
        seen.add(n)
    return out


def check_edges(edges: Iterable[Sequence[str]], names: Sequence[str]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    seen: set[frozenset[str]] = set()
    for edge in edges:
        if len(edge) != 2:
            raise UserInputError(f"a skeleton edge joins two keypoints, got {tuple(edge)!r}")
        a, b = edge
        for n in (a, b):
            if n not in names:
                raise unknown_keypoint(n, names)
        if a == b:
            raise UserInputError(f"skeleton edge {a}-{b} joins a keypoint to itself")
        key = frozenset((a, b))
        if key in seen:
            raise UserInputError(f"skeleton edge {a}-{b} is listed twice")
        seen.add(key)
        out.append((a, b))
    return tuple(out)


def check_flip_pairs(pairs: Iterable[Sequence[str]], names: Sequence[str]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    used: set[str] = set()
    for pair in pairs:
        if len(pair) != 2:
            raise UserInputError(f"a flip pair names two keypoints, got {tuple(pair)!r}")
        a, b = pair
        for n in (a, b):
            if n not in names:
                raise unknown_keypoint(n, names)
        if a == b:
            raise UserInputError(f"flip pair {a}:{b} pairs a keypoint with itself")
        for n in (a, b):
            if n in used:
                raise UserInputError(f"keypoint {n!r} is in more than one flip pair")
            used.add(n)
        out.append((a, b))
    return tuple(out)


def pair_problem(kind: str, pairs: Sequence[tuple[str, str]], a: str, b: str, joiner: str | None = None) -> str:
    """Why the pair (a, b) cannot join ``pairs``; "" when it can. ``kind`` "edge" (skeleton: any
    number of edges per keypoint) or "flip" (left/right: one pair per keypoint). The same rules
    as :func:`check_edges` / :func:`check_flip_pairs`, worded for someone picking a pair (the
    app's schema dialog and ``labeler schema``); ``joiner`` shows a pair (default ``-`` / ``:``)."""
    joiner = joiner or ("-" if kind == "edge" else ":")
    if a == b:
        return f"{a} cannot pair with itself"
    if (a, b) in pairs or (b, a) in pairs:
        return f"{a} {joiner} {b} is already listed"
    if kind == "flip":
        for name in (a, b):
            paired = next((p for p in pairs if name in p), None)
            if paired is not None:
                return f"{name} is already in the pair {paired[0]} {joiner} {paired[1]}"
    return ""


def validate_schema(
    keypoints: Iterable[str], skeleton: Iterable[Sequence[str]] = (), flip_pairs: Iterable[Sequence[str]] = ()
) -> Schema:
    """Check a whole schema without a project (names, edges and pairs); returns it canonical."""
    names = check_keypoints(keypoints)
    return Schema(names, check_edges(skeleton, names), check_flip_pairs(flip_pairs, names))


def read_schema(s: Session) -> Schema:
    names = tuple(keypoint_ids(s))
    ka, kb = aliased(KeypointRow), aliased(KeypointRow)
    edges = s.execute(
        select(ka.name, kb.name).select_from(EdgeRow).join(ka, EdgeRow.a_id == ka.id).join(kb, EdgeRow.b_id == kb.id).order_by(EdgeRow.position)
    ).all()
    flips = s.execute(
        select(ka.name, kb.name)
        .select_from(FlipPairRow)
        .join(ka, FlipPairRow.left_id == ka.id)
        .join(kb, FlipPairRow.right_id == kb.id)
        .order_by(FlipPairRow.id)
    ).all()
    return Schema(keypoints=names, skeleton=tuple(edges), flip_pairs=tuple(flips))


def _write_edges(s: Session, edges: Sequence[tuple[str, str]]) -> None:
    ids = keypoint_ids(s)
    s.execute(delete(EdgeRow))
    s.add_all(EdgeRow(a_id=ids[a], b_id=ids[b], position=i) for i, (a, b) in enumerate(edges))


def _write_flips(s: Session, pairs: Sequence[tuple[str, str]]) -> None:
    ids = keypoint_ids(s)
    s.execute(delete(FlipPairRow))
    s.add_all(FlipPairRow(left_id=ids[a], right_id=ids[b]) for a, b in pairs)


def write_new_schema(s: Session, keypoints: Sequence[str], skeleton: Iterable[Sequence[str]], flips: Iterable[Sequence[str]]) -> Schema:
    """Validate and store a whole schema into a project that has no keypoints yet."""
    names = check_keypoints(keypoints)
    edges = check_edges(skeleton, names)
    pairs = check_flip_pairs(flips, names)
    s.add_all(KeypointRow(name=n, position=i) for i, n in enumerate(names))
    s.flush()
    _write_edges(s, edges)
    _write_flips(s, pairs)
    s.flush()
    return Schema(names, edges, pairs)


#: The meta key of the category name the project's labels came with (from an imported file), which
#: exports use by default instead of the project's name: a file imported into a fresh project and
#: exported again keeps its category whatever the new project is called.
CATEGORY_META = "category"


def write_category(s: Session, name: str) -> None:
    """Record the category name (inside the caller's transaction)."""
    s.execute(delete(MetaRow).where(MetaRow.key == CATEGORY_META))
    s.add(MetaRow(key=CATEGORY_META, value=str(name)))


class SchemaOps(ProjectCore):
    def schema(self) -> Schema:
        with self._read() as s:
            return read_schema(s)

    def category(self) -> str:
        """The category name exports use by default: the one recorded from an imported file, else
        the project's name."""
        with self._read() as s:
            found = s.execute(select(MetaRow.value).where(MetaRow.key == CATEGORY_META)).scalar()
        return found or self.name  # type: ignore[attr-defined]

    def define_schema(
        self,
        keypoints: Sequence[str],
        skeleton: Iterable[Sequence[str]] = (),
        flip_pairs: Iterable[Sequence[str]] = (),
    ) -> Schema:
        """Set the whole schema of a project that has none yet (e.g. from an imported file)."""
        with self._write() as s, s.begin():
            if keypoint_ids(s):
                raise UserInputError("this project already has a keypoint schema; edit it instead")
            schema = write_new_schema(s, keypoints, skeleton, flip_pairs)
            recompute_review(s)
            return schema

    def edit_schema(
        self,
        keypoints: Sequence[str],
        skeleton: Iterable[Sequence[str]] = (),
        flip_pairs: Iterable[Sequence[str]] = (),
        *,
        renames: dict[str, str] | None = None,
        delete_points: bool = False,
    ) -> Schema:
        """Make the schema exactly this, in one transaction (the app's Edit keypoints and
        ``labeler schema`` both end here).

        ``renames`` (old -> new) keep a keypoint's points under its new name (swaps work);
        keypoints of the project neither kept by name nor renamed are removed, and refused while
        they have points unless ``delete_points``; new names are added. The whole schema is
        checked first (:func:`validate_schema`), so nothing changes when anything is wrong.
        """
        schema = validate_schema(keypoints, skeleton, flip_pairs)
        renames = dict(renames or {})
        with self._write() as s, s.begin():
            ids = keypoint_ids(s)
            for old, new in renames.items():
                if old not in ids:
                    raise unknown_keypoint(old, ids)
                if new not in schema.keypoints:
                    raise UserInputError(f"renaming {old!r} to {new!r}: {new!r} is not in the new keypoints")
            targets = list(renames.values())
            if len(set(targets)) != len(targets):
                raise UserInputError("two keypoints are renamed to the same name")
            kept = {n: n for n in ids if n not in renames and n in schema.keypoints and n not in targets}
            moved = {**kept, **renames}  # old -> new, for keypoints whose points stay
            removed = [n for n in ids if n not in moved]
            if removed and not delete_points:
                counts = dict(
                    s.execute(
                        select(KeypointRow.name, func.count())
                        .join(PointRow, PointRow.keypoint_id == KeypointRow.id)
                        .where(KeypointRow.name.in_(removed))
                        .group_by(KeypointRow.name)
                    ).all()
                )
                labelled = [f"{n} ({counts[n]} points)" for n in removed if counts.get(n)]
                if labelled:
                    raise UserInputError(
                        f"removing {', '.join(labelled)} deletes their points; confirm to delete them with the keypoints"
                    )
            if removed:
                s.execute(delete(KeypointRow).where(KeypointRow.name.in_(removed)))  # cascades to points, edges, pairs
            for i, old in enumerate(renames):  # through temporary names, so that a <-> b swaps work
                s.execute(update(KeypointRow).where(KeypointRow.id == ids[old]).values(name=f":renaming:{i}"))
            for i, new in enumerate(renames.values()):
                s.execute(update(KeypointRow).where(KeypointRow.name == f":renaming:{i}").values(name=new))
            new_names = [n for n in schema.keypoints if n not in moved.values()]
            s.add_all(KeypointRow(name=n, position=len(ids) + i) for i, n in enumerate(new_names))
            s.flush()
            self._apply_order(s, schema.keypoints)
            _write_edges(s, schema.skeleton)
            _write_flips(s, schema.flip_pairs)
            s.flush()
            recompute_review(s)
            return read_schema(s)

    def add_keypoint(self, name: str, *, position: int | None = None) -> Schema:
        """Append (or insert at ``position``) a keypoint; reviewed images become partial."""
        check_keypoint_name(name)
        with self._write() as s, s.begin():
            ids = keypoint_ids(s)
            if name in ids:
                raise UserInputError(f"keypoint {name!r} already exists")
            order = list(ids)
            order.insert(len(order) if position is None else max(0, min(position, len(order))), name)
            s.add(KeypointRow(name=name, position=order.index(name)))
            s.flush()
            self._apply_order(s, order)
            recompute_review(s)
            return read_schema(s)

    def rename_keypoint(self, old: str, new: str) -> Schema:
        check_keypoint_name(new)
        with self._write() as s, s.begin():
            ids = keypoint_ids(s)
            if old not in ids:
                raise unknown_keypoint(old, ids)
            if new in ids and new != old:
                raise UserInputError(f"keypoint {new!r} already exists")
            s.execute(update(KeypointRow).where(KeypointRow.id == ids[old]).values(name=new))
            return read_schema(s)

    def reorder_keypoints(self, names: Sequence[str]) -> Schema:
        with self._write() as s, s.begin():
            ids = keypoint_ids(s)
            if sorted(names) != sorted(ids) or len(set(names)) != len(names):
                raise UserInputError(
                    f"a new order must list every keypoint exactly once: {', '.join(ids)}"
                )
            self._apply_order(s, list(names))
            return read_schema(s)

    def remove_keypoint(self, name: str, *, delete_points: bool = False) -> int:
        """Remove a keypoint, its edges and flip pair; returns how many points went with it.

        Points are labels somebody made: unless ``delete_points`` is True, a keypoint that has
        any is refused.
        """
        with self._write() as s, s.begin():
            ids = keypoint_ids(s)
            if name not in ids:
                raise unknown_keypoint(name, ids)
            n_points = s.execute(
                select(func.count()).select_from(PointRow).where(PointRow.keypoint_id == ids[name])
            ).scalar_one()
            if n_points and not delete_points:
                raise UserInputError(
                    f"keypoint {name!r} has {n_points} points; confirm to delete them with it"
                )
            s.execute(delete(KeypointRow).where(KeypointRow.id == ids[name]))  # cascades
            self._apply_order(s, [n for n in ids if n != name])
            recompute_review(s)
            return int(n_points)

    def set_skeleton(self, edges: Iterable[Sequence[str]]) -> Schema:
        with self._write() as s, s.begin():
            checked = check_edges(edges, list(keypoint_ids(s)))
            _write_edges(s, checked)
            return read_schema(s)

    def set_flip_pairs(self, pairs: Iterable[Sequence[str]]) -> Schema:
        with self._write() as s, s.begin():
            checked = check_flip_pairs(pairs, list(keypoint_ids(s)))
            _write_flips(s, checked)
            return read_schema(s)

    @staticmethod
    def _apply_order(s: Session, order: Sequence[str]) -> None:
        for i, n in enumerate(order):
            s.execute(update(KeypointRow).where(KeypointRow.name == n).values(position=i))
