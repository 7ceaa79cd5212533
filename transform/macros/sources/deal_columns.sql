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
