"""Sales ETL: reads a CSV shipped beside it, filters by region, totals revenue per product.

Parameterised; plain Python (standard library only).
"""

import csv
import json
from collections import defaultdict
from pathlib import Path

DATA = Path(__file__).parent / "data" / "sales.csv"


def extract(path: Path = DATA) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def transform(rows: list[dict[str, str]], region: str | None, min_units: int) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for row in rows:
        if region and row["region"] != region:
            continue
        if int(row["units"]) < min_units:
            continue
        totals[row["product"]] += int(row["units"]) * float(row["unit_price"])
    return dict(sorted(totals.items()))


def sales_etl(region: str | None = None, min_units: int = 1) -> dict[str, float]:
    totals = transform(extract(), region, min_units)
    print(json.dumps({"region": region or "all", "revenue": totals}))
    return totals


if __name__ == "__main__":
    sales_etl()
