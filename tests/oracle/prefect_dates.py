"""Run inside Prefect's own virtualenv: print the next fire times of schedules, as Prefect computes them.

Reads a JSON list of ``{"kind", "schedule", "start", "n"}`` on stdin and writes, per item, the
ISO UTC times of Prefect 3's server schedule classes (``_get_dates_generator``), the code its
scheduler service runs. Never imported by deployctl; started by ``tests/oracle`` as a subprocess.
"""

import datetime
import json
import sys

from prefect.server.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

CLASSES = {"cron": CronSchedule, "interval": IntervalSchedule, "rrule": RRuleSchedule}


def dates(item):
    schedule = CLASSES[item["kind"]](**item["schedule"])
    start = datetime.datetime.fromisoformat(item["start"])
    found = schedule._get_dates_generator(n=item["n"], start=start)
    return [d.astimezone(datetime.UTC).isoformat() for d in found]


print(json.dumps([dates(item) for item in json.load(sys.stdin)]))
