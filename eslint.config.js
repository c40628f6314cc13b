// Lint configuration: typescript-eslint's recommended rules, tuned for an emulator
// (bit twiddling and numeric loops are the norm here).
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "guests/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
      "no-fallthrough": "error",
      "prefer-const": "error",
      "no-var": "error",
      "eqeqeq": ["error", "smart"],
    },
  },
);
