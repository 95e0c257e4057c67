import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

// The console is served by Kapok at /console/ and embedded into the binary from dist/app
// (console.go); `npm run dev` proxies the APIs to a local `kapok dev`.
export default defineConfig({
  base: "/console/",
  plugins: [react(), tailwindcss()],
  build: {
    outDir: "dist/app",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: {
      "/admin": "http://127.0.0.1:8080",
      "/t/": { target: "http://127.0.0.1:8080", ws: true },
    },
  },
});
