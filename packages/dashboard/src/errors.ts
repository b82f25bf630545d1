import { QTasksError } from "@qtasks/core";

/** The package was installed or built without its page (`dist/ui`). */
export class DashboardAssetsMissingError extends QTasksError {
  constructor(readonly dir: string) {
    super(
      "QTASKS_DASHBOARD_ASSETS_MISSING",
      `the dashboard's page assets are missing (looked in ${dir}); rebuild @qtasks/dashboard`,
    );
  }
}
