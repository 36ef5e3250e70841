"""Finance reports: a month-end close and an (paused) board pack. Plain Python."""

import datetime


def month_end_close(ledger: str = "main", dry_run: bool = True) -> str:
    today = datetime.date.today().isoformat()
    print(f"closing ledger {ledger} on {today} (dry run: {dry_run})")
    return today


def board_pack(quarter: str = "current") -> None:
    print(f"assembling the board pack for {quarter}")
