"""The classic example: one flow, four deployments (daily, weekly, ad-hoc, trigger-based).

Plain Python: no Prefect install is needed to run it.
"""


def my_flow(name: str = "world", shout: bool = False) -> str:
    greeting = f"hello {name}"
    if shout:
        greeting = greeting.upper() + "!"
    print(greeting)
    return greeting


if __name__ == "__main__":
    my_flow()
