"""What the PontoWeb sensors share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSkipException

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, PokeReturnValue


def first_poke(sensor: Any, context: Context, what: str) -> bool | PokeReturnValue:
    """One poke before a deferrable sensor defers, with the error handling of
    ``BaseSensorOperator.execute`` (``soft_fail``, ``never_fail``, ``silent_fail``).

    :param what: names the check in the log line of a silenced failure.
    """
    never_fail = getattr(sensor, "never_fail", False)
    try:
        return sensor.poke(context)  # type: ignore[no-any-return]
    except AirflowFailException as exc:
        if sensor.soft_fail or never_fail:
            raise AirflowSkipException(f"Skipping: {exc}") from exc
        raise
    except AirflowSkipException:
        raise
    except Exception as exc:
        if getattr(sensor, "silent_fail", False):
            sensor.log.error("%s failed: %s", what, exc)
            return False
        if never_fail:
            raise AirflowSkipException(f"Skipping: {exc}") from exc
        raise
