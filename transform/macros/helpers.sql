{% macro pipeboard_primary_entry(array_column) -%}
  {#- The `value` of the entry flagged primary in a [{value, primary, label}] jsonb array, else of the first
      non-empty entry. -#}
  (
        select entry ->> 'value'
        from jsonb_array_elements(
            case when jsonb_typeof({{ array_column }}) = 'array' then {{ array_column }} else '[]'::jsonb end
        ) with ordinality as entries (entry, position)
        where nullif(entry ->> 'value', '') is not null
        order by coalesce((entry ->> 'primary')::boolean, false) desc, position
        limit 1
    )
{%- endmacro %}


{% macro pipeboard_literal(value) -%}
  {#- A SQL string literal holding `value` (quotes doubled), for a var or a name read at run time. -#}
  '{{ (value | string).replace("'", "''") }}'
{%- endmacro %}


{% macro pipeboard_utc_date(timestamp) -%}
  cast(({{ timestamp }}) at time zone 'UTC' as date)
{%- endmacro %}
