{% test loaded_relationships(model, column_name, to, field, source_table) %}
  {#- dbt's relationships test, but only when the parent's source table is loaded: a stream the user deselected
      reads as empty, and every reference to it would otherwise fail. -#}
  {%- if pipeboard_source_exists(source_table) %}
    with child as (
        select {{ column_name }} as from_field from {{ model }}
    ),

    parent as (
        select {{ field }} as to_field from {{ to }}
    )

    select child.from_field
    from child
    left join parent on parent.to_field = child.from_field
    where child.from_field is not null
        and parent.to_field is null
  {%- else %}
    select cast(null as bigint) as from_field where false
  {%- endif %}
{% endtest %}
