"""Run the beat schedule (CELERY_BEAT_SCHEDULE) in this process.

The embedded shape has no broker and no `celery beat`; this command is its scheduler:
`bin/serve` starts it next to the web server so leases expire, the sweeper runs and the
nightly job happens there too. In production, `celery beat` does this job instead.
"""

import logging
import time

from celery import current_app as app  # config.celery's app, set up with the settings
from celery.schedules import maybe_schedule
from django.conf import settings
from django.core.management.base import BaseCommand

logger = logging.getLogger(__name__)


def _entries():
    app.loader.import_default_modules()  # registers the autodiscovered tasks
    return {
        name: (entry["task"], maybe_schedule(entry["schedule"], app=app), entry.get("kwargs", {}))
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
    }


def _run(name, task, kwargs):
    try:
        result = app.tasks[task].apply(kwargs=kwargs, throw=True).get()
    except Exception:
        # One failing task must not stop the schedule; the next tick tries again.
        logger.exception("periodic: %s (%s) failed", name, task)
        return None
    logger.info("periodic: %s (%s) -> %r", name, task, result)
    return result


class Command(BaseCommand):
    help = "Run the periodic tasks (lease expiry, sweeper, nightly triage, drift) in-process."

    def add_arguments(self, parser):
        parser.add_argument(
            "--once", action="store_true", help="run every scheduled task once now, then exit"
        )
        parser.add_argument(
            "--max-sleep", type=float, default=30.0, help="longest pause between checks (s)"
        )

    def handle(self, *, once, max_sleep, **options):
        entries = _entries()
        if once:
            for name, (task, _, kwargs) in entries.items():
                result = _run(name, task, kwargs)
                self.stdout.write(f"{name}: {result!r}")
            return
        self.stdout.write(f"periodic: {', '.join(entries)}")
        # Like beat: interval entries first run one interval after start, crontabs when due.
        last_run = {name: app.now() for name in entries}
        while True:
            pause = max_sleep
            for name, (task, schedule, kwargs) in entries.items():
                due, next_in = schedule.is_due(last_run[name])
                if due:
                    last_run[name] = app.now()
                    _run(name, task, kwargs)
                pause = min(pause, next_in)
            time.sleep(max(pause, 0.5))
