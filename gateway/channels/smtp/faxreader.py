"""Fax documents after the commit: page images (PNG, for the console) and OCR text, in
worker processes (a TIFF page's decoding and tesseract's reading are CPU work that must not
hold the reactor's interpreter), at most `ocr_workers` at once, retried `ocr_attempts` times.
The report never waits for any of it: it was acknowledged at commit, with the document.

Each step is stored as it is done (the pages, then each page's text), so a restart goes on
where it stopped; a job's `next_at` is its lease, so a node that died while reading gives
it back to the others when the lease ends."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import random
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from twisted.internet import defer, threads
from twisted.logger import Logger

from gateway.channels.smtp import fax, ocr, store
from gateway.store.engine import StoreUnavailable

if TYPE_CHECKING:
    from gateway.channels.smtp.service import SmtpChannel

log = Logger()


def render(data: bytes, content_type: str, name: str, max_pages: int) -> list[dict[str, Any]]:
    """In a worker process: the document's pages as PNG images."""
    return [
        {
            "number": p.number,
            "png": p.png,
            "sha256": hashlib.sha256(p.png).hexdigest(),
            "width": p.width,
            "height": p.height,
            "stretched": p.stretched,
        }
        for p in fax.pages(data, content_type, name, max_pages=max_pages)
    ]


def read(png: bytes, lang: str, timeout: float) -> str:
    """In a worker process: one page's text."""
    return ocr.read_page(png, lang=lang, timeout=timeout)


class FaxReader:
    def __init__(self, channel: SmtpChannel) -> None:
        self.channel = channel
        self.ctx = channel.ctx
        self.settings = channel.settings
        self.workers = self.settings.ocr_workers
        self._pool: Executor | None = None
        self._busy = 0
        self._polling = False

    @property
    def lease(self) -> float:
        # A job's longest run: every page read one after the other, and some slack.
        return self.settings.ocr_timeout * (self.settings.max_fax_pages + 2) + 60

    def pool(self) -> Executor:
        if self._pool is None:
            # spawn: a fork of a threaded reactor process may inherit a held lock.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self._pool

    def stop(self) -> defer.Deferred[None]:
        pool, self._pool = self._pool, None
        if pool is None:
            return defer.succeed(None)
        return threads.deferToThread(pool.shutdown, wait=True, cancel_futures=True)

    async def run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_event_loop()
        return await defer.Deferred.fromFuture(loop.run_in_executor(self.pool(), fn, *args))

    async def poll(self) -> None:
        if self._polling or self._busy >= self.workers or self.channel.stopping:
            return
        self._polling = True
        try:
            now = self.ctx.now()
            if not await self.ctx.read(store.due_fax, now):
                return
            jobs = await self.ctx.write(store.claim_fax, now, self.workers - self._busy, self.lease)
        except StoreUnavailable as e:
            log.warn("SMTP: fax pages paused, store unavailable ({error})", error=e)
            return
        finally:
            self._polling = False
        for job in jobs:
            self._busy += 1
            d = self.channel.spawn(self.work(job))
            d.addBoth(lambda _: setattr(self, "_busy", self._busy - 1))

    async def work(self, job: dict[str, Any]) -> None:
        s = self.settings
        try:
            done = job["pages_done"]
            if not done:
                pages = await self.run(
                    render, job["data"], job["content_type"], job["name"], s.max_fax_pages
                )
                await self.ctx.write(store.fax_paged, job, pages, self.ctx.now())
                done = {p["number"]: (p["sha256"], False) for p in pages}
                log.info(
                    "SMTP: fax {receipt} has {n} page images", receipt=job["receipt"], n=len(pages)
                )
            if s.ocr:
                for number, (sha, has_text) in sorted(done.items()):
                    if has_text:
                        continue
                    png = (await self.ctx.read(store.blob, sha)).data
                    text = await self.run(read, png, s.ocr_lang, s.ocr_timeout)
                    await self.ctx.write(store.fax_read, job, number, text, self.ctx.now())
            await self.ctx.write(store.fax_done, job, self.ctx.now())
        except fax.UnreadableFax as e:  # the same bytes will not read better next time
            log.warn("SMTP: fax {receipt} unreadable: {error}", receipt=job["receipt"], error=e)
            await self._failed(job, str(e), permanent=True)
        except (ocr.OcrFailed, BrokenProcessPool, OSError, StoreUnavailable) as e:
            if isinstance(e, BrokenProcessPool):
                self._pool = None  # a worker died (killed, out of memory): a new pool
            log.warn("SMTP: fax {receipt}: {error}", receipt=job["receipt"], error=e)
            await self._failed(job, f"{type(e).__name__}: {e}", permanent=False)

    async def _failed(self, job: dict[str, Any], error: str, permanent: bool) -> None:
        retry_at = None
        if not permanent and job["attempts"] + 1 < self.settings.ocr_attempts:
            delay = 30.0 * 2 ** job["attempts"] * random.uniform(0.8, 1.2)  # noqa: S311
            retry_at = self.ctx.now() + timedelta(seconds=delay)
        try:
            await self.ctx.write(store.fax_failed, job, error, retry_at, self.ctx.now())
        except StoreUnavailable:
            pass  # the lease runs out and the job is taken again
