"""Claims: an image being labelled by one person for a few minutes (renewed while working).

Clients compare expiry times written with their own clocks, so the machines of a team should
keep their clocks in sync (NTP), as any shared system assumes.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from labeler.store.core import ProjectCore, image_row, now
from labeler.store.dialects import insert as dialect_insert
from labeler.store.models import ClaimRow
from labeler.store.records import Claim

#: How long a claim lasts without renewal (a crashed client's claim frees the image by then).
CLAIM_SECONDS = 300.0


class ClaimOps(ProjectCore):
    def claim_image(self, image_id: int, *, seconds: float = CLAIM_SECONDS) -> Claim:
        """Claim ``image_id`` for :attr:`user` (or renew their claim). Returns the claim in force:
        this user's, or another person's unexpired one (then nothing changes: ``mine`` is False)."""
        t = now()
        with self._write() as s, s.begin():
            image_row(s, image_id)
            held = s.get(ClaimRow, int(image_id), populate_existing=True)
            if held is not None and held.user != self.user and held.expires_at > t:
                return Claim(held.image_id, held.user, held.expires_at, mine=False)
            ins = dialect_insert(s, ClaimRow.__table__)
            s.execute(
                ins.on_conflict_do_update(
                    index_elements=[ClaimRow.image_id],
                    set_={"user": ins.excluded.user, "claimed_at": ins.excluded.claimed_at, "expires_at": ins.excluded.expires_at},
                ),
                [{"image_id": int(image_id), "user": self.user, "claimed_at": t, "expires_at": t + seconds}],
            )
            return Claim(int(image_id), self.user, t + seconds, mine=True)

    def release_claim(self, image_id: int) -> bool:
        """Give up this user's claim on the image (others' claims are left alone)."""
        with self._write() as s, s.begin():
            stmt = delete(ClaimRow).where(ClaimRow.image_id == int(image_id), ClaimRow.user == self.user)
            return bool(s.execute(stmt).rowcount)

    def claims(self) -> dict[int, Claim]:
        """The claims in force (unexpired), image id -> claim."""
        with self._read() as s:
            rows = s.execute(
                select(ClaimRow.image_id, ClaimRow.user, ClaimRow.expires_at).where(ClaimRow.expires_at > now())
            ).all()
        return {i: Claim(i, u, e, mine=u == self.user) for i, u, e in rows}
