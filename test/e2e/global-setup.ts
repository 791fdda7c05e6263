// The e2e project's shared stack (shared-setup.ts), for the files that can share one.
import { sharedSetup } from "./shared-setup";

export default sharedSetup("e2e");
