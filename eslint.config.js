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
  {
    // The machine, the monitor, the loaders and the lab run in a browser too (docs/web.md):
    // they import nothing from Node. Node-only code lives in src/cli, src/guests and test/.
    files: ["src/hw/**/*.ts", "src/vmm/**/*.ts", "src/boot/**/*.ts", "src/lab/**/*.ts", "src/web/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [{ regex: "^node:", message: "src/hw, src/vmm, src/boot, src/lab and src/web run in a browser: no Node modules (docs/web.md)" }],
        paths: ["fs", "path", "url", "os", "crypto", "zlib", "child_process", "worker_threads", "buffer", "process", "util"]
          .map((name) => ({ name, message: "src/hw, src/vmm, src/boot, src/lab and src/web run in a browser: no Node modules (docs/web.md)" })),
      }],
      "no-restricted-globals": ["error",
        ...["Buffer", "process", "require", "__dirname", "__filename", "setImmediate"]
          .map((name) => ({ name, message: "a Node global: src/hw, src/vmm, src/boot, src/lab and src/web run in a browser (docs/web.md)" }))],
    },
  },
);
