/**
 * The plugin kit: the only module of the web app a plugin's pages
 * (`plugins/<name>/web/*.vue`) import. Everything else under web/src may
 * change under them; a test (test/plugins/imports.test.ts) refuses other imports.
 *
 * ```vue
 * <script setup lang="ts">
 * import { request, useCursorList, formatMoney, type ResponseOf } from '../../../web/src/plugin-kit.ts';
 * </script>
 * ```
 */

// The API client: `request(method, path, body?)` (CSRF, problem+json errors as ApiError), lists, query strings.
export {
  ApiError,
  api,
  collect,
  errorMessage,
  fieldErrorsOf,
  fieldLabel,
  type Member,
  type Organization,
  type OrgKind,
  type OrgSummary,
  type Page,
  type Role,
  request,
  seg,
  withQuery,
} from './api.ts';
// Shared components.
export { default as ErrorBox } from './components/ErrorBox.vue';
export { default as SelectField } from './components/SelectField.vue';
export { default as StateBadge } from './components/StateBadge.vue';
export { default as TextAreaField } from './components/TextAreaField.vue';
export { default as TextField } from './components/TextField.vue';
export { useCursorList } from './composables/useCursorList.ts';
export { useForm } from './composables/useForm.ts';
// Dates, money, counts and labels, as core pages show them.
export * from './format.ts';
// The API's types, generated from the OpenAPI document with every shipped plugin enabled (npm run web:types).
export type { components, paths, QueryOf, RequestBodyOf, ResponseOf } from './generated/openapi.ts';
// Who is signed in and the organization they work in.
export { currentOrg, session } from './session.ts';
