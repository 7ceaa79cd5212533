{#-
  Reading a loaded table whatever the user selected, so a model never depends on which streams ran:

  - the columns declared (with a data_type) for the table in models/staging/_pipedrive__sources.yml are cast to
    that type; a declared column the table lacks reads as NULL of it;
  - a table that does not exist (its stream was deselected) reads as an empty relation with the declared
    columns; only a source with `meta: {required: true}` (deals) fails the build instead;
  - with passthrough=true every other loaded column follows as it is (a new custom field appears on the next
    run), except the loader's `_sdc_*` metadata.
-#}

{% macro pipeboard_source_node(table_name) -%}
  {{ return(graph.sources['source.' ~ project_name ~ '.pipedrive.' ~ table_name]) }}
{%- endmacro %}


{% macro pipeboard_read_source(table_name, passthrough=false) -%}
  {#- Returns {'sql': a SELECT over the table, 'columns': the names it yields, in order, 'types': name → the
      Postgres type of what it yields (declared columns: their data_type; passed-through ones: as loaded)}. -#}
  {%- set relation = source('pipedrive', table_name) -%}
  {%- if not execute -%}
    {{ return({'sql': 'select * from ' ~ relation, 'columns': [], 'types': {}}) }}
  {%- endif -%}
  {%- set node = pipeboard_source_node(table_name) -%}
  {%- set declared = [] -%}
  {%- set types = {} -%}
  {%- for name, column in node.columns.items() if column.data_type -%}
    {%- do declared.append((name, column.data_type)) -%}
    {%- do types.update({name: column.data_type}) -%}
  {%- endfor -%}
  {%- set loaded = adapter.get_relation(relation.database, relation.schema, relation.identifier) -%}
  {%- if loaded is none -%}
    {%- if node.meta.get('required') -%}
      {{ exceptions.raise_compiler_error(
          "required source table " ~ relation.schema ~ "." ~ relation.identifier ~ " does not exist: has the "
          ~ table_name ~ " stream been loaded into schema " ~ relation.schema ~ "? (set the loader's "
          ~ "default_target_schema and pipeboard-dbt's source schema to the same schema)") }}
    {%- endif -%}
    {%- do log("Source table " ~ relation.schema ~ "." ~ relation.identifier
               ~ " does not exist; reading it as empty", info=false) -%}
    {%- set items = [] -%}
    {%- for name, data_type in declared -%}
      {%- do items.append('cast(null as ' ~ data_type ~ ') as ' ~ adapter.quote(name)) -%}
    {%- endfor -%}
    {{ return({'sql': 'select ' ~ items | join(', ') ~ ' where false',
               'columns': declared | map(attribute=0) | list, 'types': types}) }}
  {%- endif -%}
  {%- set present = {} -%}
  {%- for column in adapter.get_columns_in_relation(loaded) -%}
    {%- do present.update({column.name: column.dtype}) -%}
  {%- endfor -%}
  {%- set declared_names = declared | map(attribute=0) | list -%}
  {%- set items = [] -%}
  {%- set names = [] -%}
  {%- for name, data_type in declared -%}
    {%- if name not in present -%}
      {%- do items.append('cast(null as ' ~ data_type ~ ') as ' ~ adapter.quote(name)) -%}
    {%- elif data_type == 'jsonb' and present[name] == 'ARRAY' -%}
      {#- a loader that keeps JSON arrays as Postgres arrays (e.g. MeltanoLabs' target-postgres) -#}
      {%- do items.append('to_jsonb(' ~ adapter.quote(name) ~ ') as ' ~ adapter.quote(name)) -%}
    {%- else -%}
      {%- do items.append('cast(' ~ adapter.quote(name) ~ ' as ' ~ data_type ~ ') as ' ~ adapter.quote(name)) -%}
    {%- endif -%}
    {%- do names.append(name) -%}
  {%- endfor -%}
  {%- if passthrough -%}
    {%- for name in present if name not in declared_names and not name.startswith('_sdc_') -%}
      {%- do items.append(adapter.quote(name)) -%}
      {%- do names.append(name) -%}
      {%- do types.update({name: present[name]}) -%}
    {%- endfor -%}
  {%- endif -%}
  {{ return({'sql': 'select ' ~ items | join(',\n        ') ~ '\n    from ' ~ loaded, 'columns': names,
             'types': types}) }}
{%- endmacro %}


{% macro pipeboard_source_exists(table_name) -%}
  {#- Whether the loaded table exists (false at parse time). -#}
  {%- set relation = source('pipedrive', table_name) -%}
  {%- if not execute -%}{{ return(false) }}{%- endif -%}
  {{ return(adapter.get_relation(relation.database, relation.schema, relation.identifier) is not none) }}
{%- endmacro %}


{% macro pipeboard_is_deleted(deleted_flag='is_deleted') -%}
  {#- One rule for deleted rows in every staging model: Pipedrive's own flag, or the loader's _sdc_deleted_at
      (records a reconciliation found purged, marked through ACTIVATE_VERSION). -#}
  (coalesce({{ deleted_flag }}, false) or _sdc_deleted_at is not null)
{%- endmacro %}
