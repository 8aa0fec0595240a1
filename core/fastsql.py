"""A faster road for the catalogue's hot reads: simple querysets run as cached raw SQL.

Building the SQL of a 39-column query costs Django more than running it (about 0.4 ms against
0.1 ms on PostgreSQL), and the API's lookups are all of one simple kind: one table, ``AND`` of
comparisons between a column and a value, the model's ordering, a slice. For such a queryset,
``simple_sql`` writes the statement once per shape (which columns, which comparisons, which
ordering), keeps it, and returns it with this call's values, prepared for the database exactly as
Django's own lookups prepare them. Anything else returns None and takes Django's usual road.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, models
from django.db.models.expressions import Col
from django.db.models.lookups import Exact, GreaterThan, GreaterThanOrEqual, IsNull, LessThan, LessThanOrEqual
from django.db.models.sql.where import AND, WhereNode

_OPERATORS = {Exact: "=", LessThan: "<", LessThanOrEqual: "<=", GreaterThan: ">", GreaterThanOrEqual: ">="}
_CACHE: dict[tuple, tuple[str, list]] = {}
_CACHE_MAX = 512


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
        elif operator and child.rhs is not None and not hasattr(child.rhs, "resolve_expression"):
            shape.append((column, operator))  # Exact also covers RelatedExact (a foreign key's value)
            params.append(lhs.output_field.get_db_prep_value(child.rhs, connection, prepared=True))
        else:
            return None
    return shape, params


def simple_sql(queryset: models.QuerySet, attrs: list[str]) -> tuple[str, list[Any], list] | None:
    """``(sql, params, converters)`` selecting ``attrs`` (attribute names) for a simple queryset,
    or None when the queryset is not simple. ``converters`` are, per column, Django's conversions
    of the database's value (as the ORM would apply them)."""
    query = queryset.query
    model = queryset.model
    if (
        query.distinct
        or query.combinator
        or query.annotations
        or query.extra
        or query.select_related
        or query.group_by is not None
        or query.select
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
    if not all(isinstance(name, str) and name.lstrip("-") in _attnames(model) for name in ordering):
        return None
    limited = query.high_mark is not None
    if not limited and query.low_mark:
        return None
    key = (id(connection), model, tuple(attrs), tuple(shape), tuple(ordering), limited)
    built = _CACHE.get(key)
    if built is None:
        built = _build(model, connection, attrs, shape, ordering, limited)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = built
    if limited:
        params += [query.high_mark - query.low_mark, query.low_mark]
    return built[0], params, built[1]


def fetch(queryset: models.QuerySet, attrs: list[str]) -> list[tuple] | None:
    """The values of ``attrs`` for each row of a simple queryset, converted as the ORM converts
    them; None when the queryset is not simple (use the ORM)."""
    statement = simple_sql(queryset, attrs)
    if statement is None:
        return None
    sql, params, converters = statement
    connection = connections[queryset.db]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        records = cursor.fetchall()
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


def _attnames(model: type[models.Model]) -> dict[str, models.Field]:
    return {f.attname: f for f in model._meta.concrete_fields} | {f.name: f for f in model._meta.concrete_fields}


def _build(model, connection, attrs: list[str], shape: list[tuple], ordering: list[str], limited: bool):
    quote = connection.ops.quote_name
    fields = _attnames(model)
    table = model._meta.db_table
    select = ", ".join(quote(fields[attr].column) for attr in attrs)
    where = " AND ".join(
        f"{quote(column)} {op}" if op.startswith("IS") else f"{quote(column)} {op} %s" for column, op in shape
    )
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
    converters = []
    for attr in attrs:
        column = fields[attr].get_col(table)
        funcs = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        converters.append((funcs, column))
    return sql, converters


def exists(queryset: models.QuerySet) -> bool:
    """``queryset.exists()``, through the cached road when the queryset is simple."""
    records = fetch(queryset[:1], [queryset.model._meta.pk.attname])
    return queryset.exists() if records is None else bool(records)
