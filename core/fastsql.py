"""The API's hot lookups as cached SQL: ``fetch`` gives a simple queryset's rows without Django
compiling its SQL again.

Compiling a queryset costs Django several times what running it does for the API's lookups, which
all have one simple shape: one table, ``AND`` of comparisons between a column and a value (or a
short list of values, ``__in``), the model's ordering, a slice. ``fetch`` writes the statement once
per shape (which columns, which comparisons, how many values, which ordering), keeps it, and runs
it with this call's values, prepared for the database exactly as Django's own lookups prepare them,
then converts each column with Django's converters for it. Anything else returns None, and the
caller takes the ORM.

This reads Django's query internals (``WhereNode``, ``Col``, lookup classes), which Django does not
promise to keep; ``tests/core/test_fastsql.py`` pins every supported shape to the ORM's answer, and
every other shape to the fallback, on both databases.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connections, models
from django.db.models.expressions import Col
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
)
from django.db.models.sql.where import AND, WhereNode

_OPERATORS = {Exact: "=", LessThan: "<", LessThanOrEqual: "<=", GreaterThan: ">", GreaterThanOrEqual: ">="}
_CACHE: dict[tuple, tuple[str, list]] = {}
_CONVERTERS: dict[tuple, list] = {}
_CACHE_MAX = 512
_IN_MAX = 64  # a longer ``__in`` list takes the ORM (a statement per length would crowd the cache)


# Why this road is kept, measured 2026-12 on a busy shared 2-core VM (Django 5.2; benchmarks/rows.py
# and benchmarks/catalogue.py, method and every figure in benchmarks/README.md): a 39-column
# data_item lookup costs the ORM (values_list) 0.92 ms of CPU against 0.15 ms here on SQLite, and
# 0.97 ms against 0.23 ms on PostgreSQL (medians of 15 interleaved rounds); through gunicorn, a
# query_data_item request cost 4.4-4.8 ms of server CPU with the ORM against 2.6-3.1 ms with this
# road, and its throughput fell from about 50 % of the heartbeat's to about 30 %. values_list()
# .iterator() costs what the ORM does (more on PostgreSQL); Manager.raw() with hand-written SQL
# (0.33 ms / 0.45 ms) would need a statement per lookup, and SQL built anyway for column filters.
def fetch(queryset: models.QuerySet, attrs: list[str]) -> list[tuple] | None:
    """The values of ``attrs`` (field names or attnames of the queryset's model) for each row of a
    simple queryset, of the same types as ``queryset.values_list(*attrs)`` gives; None when the
    queryset is not simple (the caller uses the ORM)."""
    statement = _statement(queryset, attrs)
    if statement is None:
        return None
    sql, params, converters = statement
    connection = connections[queryset.db]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        records = cursor.fetchall()
    return convert(records, converters, connection)


def values(queryset: models.QuerySet, attrs: list[str]) -> list[tuple]:
    """``queryset.values_list(*attrs)`` as a list: by ``fetch`` when the queryset is simple, else
    by the ORM."""
    records = fetch(queryset, attrs)
    return list(queryset.values_list(*attrs)) if records is None else records


def column_converters(model: type[models.Model], attrs: list[str], connection) -> list:
    """For each of ``attrs`` (fields of ``model``), the converters Django applies to its column's
    values as they come from the database, for ``convert``; found once per connection (Django's
    lookup of them cost a registration a quarter of a millisecond)."""
    key = (connection.alias, model, tuple(attrs))
    converters = _CONVERTERS.get(key)
    if converters is None:
        fields, table = _fields(model), model._meta.db_table
        converters = []
        for attr in attrs:
            column = fields[attr].get_col(table)
            funcs = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            converters.append((funcs, column))
        if len(_CONVERTERS) >= _CACHE_MAX:
            _CONVERTERS.clear()
        _CONVERTERS[key] = converters
    return converters


def convert(records: list[tuple], converters: list, connection) -> list[tuple]:
    """``records`` with the first ``len(converters)`` values of each made what the ORM would give
    (``column_converters``); values after those stay as the driver gave them."""
    if not any(funcs for funcs, _ in converters):
        return records
    converted = []
    for record in records:
        values = list(record)
        for position, (funcs, expression) in enumerate(converters):
            for func in funcs:
                values[position] = func(values[position], expression, connection)
        converted.append(tuple(values))
    return converted


def exists(queryset: models.QuerySet) -> bool:
    """``queryset.exists()``, through ``fetch`` when the queryset is simple (query_exists answered
    1,180 requests/s this way against 836 with ``.exists()``, benchmarks/catalogue.py at 100,000
    items on a quiet machine)."""
    records = fetch(queryset[:1], [queryset.model._meta.pk.attname])
    return queryset.exists() if records is None else bool(records)


def _statement(queryset: models.QuerySet, attrs: list[str]) -> tuple[str, list[Any], list] | None:
    """``(sql, params, converters)`` for a simple queryset, or None."""
    query = queryset.query
    model = queryset.model
    fields = _fields(model)
    if (
        not attrs
        or not all(attr in fields for attr in attrs)
        or query.distinct
        or query.combinator
        or query.annotations
        or query.extra
        or query.extra_tables
        or query.extra_order_by
        or query.select_for_update
        or query.select_related
        or query.group_by is not None
        or query.select
        or not query.standard_ordering  # reverse()
        or sum(1 for alias in query.alias_map if query.alias_refcount.get(alias)) > 1  # a join in use
        or query.is_empty()
    ):
        return None
    connection = connections[queryset.db]
    found = _conditions(query.where, model, connection)
    if found is None:
        return None
    shape, params = found
    ordering = list(query.order_by or (model._meta.ordering if query.default_ordering else []))
    # A relation's name orders by the related model's ordering (a join): only the model's own columns.
    if not all(isinstance(name, str) and _own_column(fields.get(name.lstrip("-")), name) for name in ordering):
        return None
    limited = query.high_mark is not None
    if not limited and query.low_mark:
        return None
    key = (queryset.db, model, tuple(attrs), tuple(shape), tuple(ordering), limited)
    built = _CACHE.get(key)
    if built is None:
        built = _build(model, connection, attrs, shape, ordering, limited)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = built
    if limited:
        params += [query.high_mark - query.low_mark, query.low_mark]
    return built[0], params, built[1]


def _conditions(where: WhereNode, model: type[models.Model], connection) -> tuple[list[tuple], list[Any]] | None:
    if where.connector != AND or where.negated:
        return None
    shape: list[tuple] = []
    params: list[Any] = []
    for child in where.children:
        lhs = getattr(child, "lhs", None)
        if not isinstance(lhs, Col) or lhs.target.model is not model or isinstance(lhs.target, models.JSONField):
            return None
        column = lhs.target.column
        operator = next((op for cls, op in _OPERATORS.items() if isinstance(child, cls)), None)
        if isinstance(child, IsNull) and isinstance(child.rhs, bool):  # also RelatedIsNull
            shape.append((column, "IS NULL" if child.rhs else "IS NOT NULL"))
        elif type(child) is In:  # not RelatedIn (model instances), which the ORM prepares its own way
            values = _in_values(child.rhs)
            if values is None:
                return None
            shape.append((column, "IN", len(values)))
            params.extend(lhs.output_field.get_db_prep_value(value, connection, prepared=True) for value in values)
        elif operator and child.rhs is not None and not hasattr(child.rhs, "resolve_expression"):
            shape.append((column, operator))  # Exact also covers RelatedExact (a foreign key's value)
            params.append(lhs.output_field.get_db_prep_value(child.rhs, connection, prepared=True))
        else:
            return None
    return shape, params


def _in_values(rhs: Any) -> list[Any] | None:
    """The values an ``__in`` compares with, as the ORM sends them (each once, in order, without
    None, which equals nothing); None when the ORM must decide: a subquery or expressions, or no
    value left (the ORM answers no rows without asking the database), or more than ``_IN_MAX``."""
    if not isinstance(rhs, (list, tuple, set, frozenset)) or any(hasattr(v, "resolve_expression") for v in rhs):
        return None
    try:
        values = list(dict.fromkeys(rhs))
    except TypeError:  # unhashable values: the ORM's error
        return None
    values = [value for value in values if value is not None]
    return values if 0 < len(values) <= _IN_MAX else None


@functools.cache  # per model, once: every lookup asks
def _fields(model: type[models.Model]) -> dict[str, models.Field]:
    return {f.attname: f for f in model._meta.concrete_fields} | {f.name: f for f in model._meta.concrete_fields}


def _own_column(field: models.Field | None, name: str) -> bool:
    return field is not None and (not field.is_relation or name.lstrip("-") == field.attname)


def _condition(column: str, op: str, count: int = 0) -> str:
    if op == "IN":
        return f"{column} IN ({', '.join(['%s'] * count)})"
    return f"{column} {op}" if op.startswith("IS") else f"{column} {op} %s"


def _build(model, connection, attrs: list[str], shape: list[tuple], ordering: list[str], limited: bool):
    quote = connection.ops.quote_name
    fields = _fields(model)
    table = model._meta.db_table
    select = ", ".join(quote(fields[attr].column) for attr in attrs)
    where = " AND ".join(_condition(quote(column), op, *count) for column, op, *count in shape)
    order = ", ".join(
        f"{quote(fields[name.lstrip('-')].column)}{' DESC' if name.startswith('-') else ''}" for name in ordering
    )
    sql = f"SELECT {select} FROM {quote(table)}"
    if where:
        sql += f" WHERE {where}"
    if order:
        sql += f" ORDER BY {order}"
    if limited:
        sql += " LIMIT %s OFFSET %s"
    return sql, column_converters(model, attrs, connection)
