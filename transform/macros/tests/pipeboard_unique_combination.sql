{% test pipeboard_unique_combination(model, columns) %}
  {#- Rows sharing the same values of `columns` (none expected). -#}
  select {{ columns | join(", ") }}, count(*) as rows
  from {{ model }}
  group by {{ columns | join(', ') }}
  having count(*) > 1
{% endtest %}
