import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
/** Where `vite dev` forwards API calls; the Plaza server started with `npm run dev`. */
const apiTarget = process.env.PLAZA_API_URL ?? 'http://127.0.0.1:3000';

export default defineConfig({
  root,
  base: '/',
  publicDir: 'public',
  plugins: [vue()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
  },
  server: {
    proxy: {
      '/v1': { target: apiTarget, changeOrigin: false },
    },
  },
});
