"""What the PontoWeb sensors share: the first poke of a deferrable sensor, and the deferral itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSkipException, PokeReturnValue

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


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


def execute_deferrable(sensor: Any, context: Context, what: str, trigger: Callable[[float], Any]) -> Any:
    """A deferrable sensor's ``execute``: one poke first (a wait already over does not defer), then
    defer to ``trigger(end_time)`` for the rest of ``timeout``, which counts from before the poke.

    :param what: names the wait in log lines (``"PontoWeb reckon 123"``).
    """
    from airflow_provider_ahgora.polling import deadline_after
    from airflow_provider_ahgora.triggers._base import defer_wait

    end_time = deadline_after(sensor.timeout)  # before the first poke: the whole wait counts
    result = first_poke(sensor, context, f"{what} check")
    if isinstance(result, PokeReturnValue) and result.is_done:
        sensor.log.info("%s is already finished: no need to defer.", what)
        return result.xcom_value
    assert end_time is not None
    defer_wait(sensor, trigger(end_time), sensor.timeout)
