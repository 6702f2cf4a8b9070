// @ts-check
import tseslint from 'typescript-eslint';

const stages = ['parser', 'planner', 'executor', 'cache', 'exporter', 'registry', 'store', 'runtime', 'cli', 'common'];

export default tseslint.config(
  // The parity cases are build contexts: their sources are the projects' own, not tsbuild's.
  { ignores: ['dist/', 'node_modules/', 'runtime-shim/', 'coverage/', 'test/parity/cases/', 'test/parity/debian/'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      // A stage is reached only through its public entry, so its insides can change freely.
      'no-restricted-imports': [
        'error',
        {
          patterns: stages.map((stage) => ({
            regex: `^(\\.\\./)+${stage}/(?!index\\.js$).+`,
            message: `import src/${stage} through its index.ts`,
          })),
        },
      ],
      // Library code never prints or exits: only src/cli/main.ts does.
      'no-console': 'error',
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[object.name='process'][property.name='exit']", message: 'only src/cli/main.ts exits' },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/executor/**', 'src/runtime/**', 'src/registry/**', 'src/cli/**'],
    rules: {
      // Processes are started only by the stages that run things (and credential helpers).
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'node:child_process', message: 'child processes belong to executor and runtime' },
          ],
          patterns: stages.map((stage) => ({
            regex: `^(\\.\\./)+${stage}/(?!index\\.js$).+`,
            message: `import src/${stage} through its index.ts`,
          })),
        },
      ],
    },
  },
  {
    // The installed entry is CommonJS (see bin/tsbuild.js).
    files: ['bin/**/*.js', 'bin/**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', __dirname: 'readonly', process: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['src/cli/main.ts', 'src/cli/bin.ts'],
    rules: { 'no-console': 'off', 'no-restricted-syntax': 'off' },
  },
);
