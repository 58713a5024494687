// Prints the README's configuration table from the config schema (server/config.ts).
import { configTable } from '../server/config.ts';

process.stdout.write(`${configTable()}\n`);
