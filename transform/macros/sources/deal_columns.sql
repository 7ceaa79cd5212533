{% macro pipeboard_deal_columns() -%}
  {#- The columns stg_pipedrive__deals yields, in order (empty at parse time). -#}
  {%- set loaded = pipeboard_read_source('deals', passthrough=true).columns -%}
  {%- set columns = [] -%}
  {%- for column in loaded if column not in ('is_deleted', '_sdc_deleted_at', '_sdc_batched_at') -%}
    {%- do columns.append(column) -%}
  {%- endfor -%}
  {%- if execute -%}{%- do columns.extend(['is_deleted', '_sdc_batched_at']) -%}{%- endif -%}
  {{ return(columns) }}
{%- endmacro %}


{% macro pipeboard_deal_reference_fields(deal_columns) -%}
  {#- Custom deal fields holding a user, organization or person id, from the deal field metadata:
      [{'column', 'field_type', 'field_name'}] for those whose column is loaded. Empty when deal_fields is not. -#}
  {%- if not execute or not pipeboard_source_exists('deal_fields') -%}{{ return([]) }}{%- endif -%}
  {%- set query -%}
    select distinct on (column_name) column_name, field_type, field_name
    from {{ source('pipedrive', 'deal_fields') }}
    where is_custom_field and field_type in ('user', 'org', 'people') and column_name is not null
    order by column_name, field_code
  {%- endset -%}
  {%- set found = [] -%}
  {%- for row in run_query(query).rows if row[0] in deal_columns -%}
    {%- do found.append({'column': row[0], 'field_type': row[1], 'field_name': row[2]}) -%}
  {%- endfor -%}
  {{ return(found) }}
{%- endmacro %}


{% macro pipeboard_added_columns(extra=[]) -%}
  {#- The columns the current model adds to the deal columns: those its YAML documents that are not standard
      deal columns (documented on the deals source), plus `extra`. A loaded deal column with one of these names
      (a custom field) is passed through as custom_<name>. -#}
  {%- if not execute -%}{{ return([]) }}{%- endif -%}
  {%- set standard = pipeboard_source_node('deals').columns.keys() | list + ['is_deleted'] -%}
  {%- set added = [] -%}
  {%- for name in model.columns.keys() if name not in standard -%}
    {%- do added.append(name) -%}
  {%- endfor -%}
  {{ return(added + extra) }}
{%- endmacro %}


{% macro pipeboard_deal_temporal_columns(deal_columns) -%}
  {#- Custom deal fields holding a time of day or a date, from the deal field metadata: {column: 'time' or
      'date'} for the loaded columns of fields of type time, timerange, date, daterange (a range's start column
      and its <column>_until). Empty when deal_fields is not loaded. -#}
  {%- if not execute or not pipeboard_source_exists('deal_fields') -%}{{ return({}) }}{%- endif -%}
  {%- set query -%}
    select column_name, field_type
    from {{ source('pipedrive', 'deal_fields') }}
    where is_custom_field and field_type in ('time', 'timerange', 'date', 'daterange')
        and column_name is not null
    order by column_name, field_code
  {%- endset -%}
  {%- set found = {} -%}
  {%- for row in run_query(query).rows -%}
    {%- set kind = 'time' if row[1] in ('time', 'timerange') else 'date' -%}
    {%- set names = [row[0], row[0] ~ '_until'] if row[1] in ('timerange', 'daterange') else [row[0]] -%}
    {%- for name in names if name in deal_columns and name not in found -%}
      {%- do found.update({name: kind}) -%}
    {%- endfor -%}
  {%- endfor -%}
  {{ return(found) }}
{%- endmacro %}


{% macro pipeboard_as_temporal(column, kind, loaded_type) -%}
  {#- The quoted column `column` as `kind` ('time' or 'date'): unchanged when it is loaded as that type; else
      its text cast when it reads as one (HH:MM[:SS[.ffffff]], YYYY-MM-DD, blanks around allowed), NULL when
      not. The loaded table keeps the text; the data test deal_temporal_values_parse warns about such values. -#}
  {%- set patterns = {'time': '^([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]+)?)?$',
                      'date': '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$'} -%}
  {%- set loaded_as = {'time': ['time', 'time without time zone'], 'date': ['date']} -%}
  {%- if (loaded_type or '') | lower in loaded_as[kind] -%}
    {{ column }}
  {%- else -%}
    case when btrim(cast({{ column }} as text)) ~ '{{ patterns[kind] }}'
        then cast(btrim(cast({{ column }} as text)) as {{ kind }}) end
  {%- endif -%}
{%- endmacro %}
