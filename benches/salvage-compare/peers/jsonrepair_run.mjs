// Runs jsonrepair (npm) on FILE, writes the repaired JSON to OUT, prints seconds= (best of 3).
import fs from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(process.env.JSONREPAIR_PREFIX + '/package.json')
const { jsonrepair } = require('jsonrepair')

const [src, dst] = process.argv.slice(2)
const text = fs.readFileSync(src, 'utf8')
let out = ''
let best = Infinity
for (let i = 0; i < 3; i++) {
  const start = performance.now()
  try {
    out = jsonrepair(text)
  } catch (e) {
    out = ''
    console.error('error: ' + e.message)
  }
  best = Math.min(best, (performance.now() - start) / 1000)
}
fs.writeFileSync(dst, out)
console.error('seconds=' + best)
